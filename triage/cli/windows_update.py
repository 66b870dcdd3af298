"""``triage windows update``: change a maintenance window's fields (only those given)."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli.common import CliContext, CliError, parse_duration, print_fields
from triage.cli.rules_common import call, label_matchers, load_json, parse_into, parse_when
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime import to_timestamp

_SCOPE = (
    ("integration", "integration_ids"),
    ("client", "clients"),
    ("site", "sites"),
    ("device", "device_globs"),
)


def window_changes(
    args: argparse.Namespace, current: pb.MaintenanceWindow
) -> tuple[pb.MaintenanceWindow, list[str]]:
    """The window carrying the flags' values and the field paths they change.

    ``--start`` applies to the schedule the window has (one-off or recurring); ``--end``
    only to a one-off window; ``--rrule``, ``--duration`` and ``--zone`` only to a recurring
    one (turning one kind into the other takes ``--from-json`` with the whole schedule).
    """
    window = pb.MaintenanceWindow(id=current.id, etag=current.etag)
    paths: list[str] = []
    if args.from_json:
        parse_into(load_json(args.from_json), window)
        window.id, window.etag = current.id, current.etag
        paths += [f.name for f, _ in window.ListFields() if f.name not in ("id", "etag")]
    if args.name is not None:
        window.display_name = args.name
        paths.append("display_name")
    if args.description is not None:
        window.description = args.description
        paths.append("description")
    recurring = current.HasField("recurring")
    schedule = "recurring" if recurring else "one_off"
    if args.start:
        getattr(window, schedule).start_time.CopyFrom(to_timestamp(parse_when(args.start)))
        paths.append(f"{schedule}.start_time")
    if args.end:
        if recurring:
            raise CliError("--end is for one-off windows: use --duration or --rrule", code=2)
        window.one_off.end_time.CopyFrom(to_timestamp(parse_when(args.end)))
        paths.append("one_off.end_time")
    for flag, field, value in (
        ("--rrule", "rrule", args.rrule),
        ("--duration", "duration", args.duration),
        ("--zone", "time_zone", args.zone),
    ):
        if value is None:
            continue
        if not recurring:
            raise CliError(f"{flag} is for recurring windows: use --start/--end", code=2)
        if field == "duration":
            window.recurring.duration.CopyFrom(parse_duration(value))
        else:
            setattr(window.recurring, field, value)
        paths.append(f"recurring.{field}")
    if args.extend_until:
        window.end_override_time.CopyFrom(to_timestamp(parse_when(args.extend_until)))
        paths.append("end_override_time")
    for flag, field in _SCOPE:
        values = getattr(args, flag)
        if values:
            getattr(window.scope, field).extend(v for v in values if v)
            paths.append(f"scope.{field}")
    if args.label:
        window.scope.label_matchers.extend(label_matchers([v for v in args.label if v]))
        paths.append("scope.label_matchers")
    return window, sorted(set(paths))


def update(ctx: CliContext, args: argparse.Namespace) -> int:
    """Change the fields the flags give, against the window's current etag."""
    current = call(
        ctx, "GetMaintenanceWindow", api.GetMaintenanceWindowRequest(window_id=args.id)
    ).maintenance_window
    window, paths = window_changes(args, current)
    if not paths:
        raise CliError("nothing to update: pass --name, --end, --rrule, ... or --from-json", 2)
    if args.etag:
        window.etag = args.etag
    request = api.UpdateMaintenanceWindowRequest(
        request_id=str(uuid.uuid4()),
        maintenance_window=window,
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )
    print_fields(ctx, call(ctx, "UpdateMaintenanceWindow", request).maintenance_window)
    return 0


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``windows update`` to the ``windows`` group's subcommands."""
    p = sub.add_parser("update", parents=parents, help="change a window's fields")
    p.add_argument("id")
    p.add_argument("--from-json", metavar="FILE", help="fields of a MaintenanceWindow as JSON")
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument("--start", help="new start (ISO 8601); DTSTART of a recurring window")
    p.add_argument("--end", help="new end of a one-off window (ISO 8601)")
    p.add_argument("--rrule", help="new RFC 5545 RRULE of a recurring window")
    p.add_argument("--duration", help="new length of each occurrence, e.g. 2h")
    p.add_argument("--zone", help="new IANA zone of the recurrence")
    p.add_argument("--extend-until", help="end the current occurrence at this instant instead")
    for flag in ("integration", "client", "site", "device", "label"):
        p.add_argument(
            f"--{flag}",
            action="append",
            help="scope; repeatable; replaces the list ('' alone clears it)",
        )
    p.add_argument("--etag", default=None, help="fail if the window changed since this etag")
    p.set_defaults(handler=update)
