"""``triage windows ...``: maintenance windows of the rules service."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from google.protobuf import json_format

from triage.cli import windows_update
from triage.cli.common import (
    CliContext,
    emit,
    enum_name,
    parse_duration,
    print_fields,
    short_time,
)
from triage.cli.rules_common import (
    call,
    enum_value,
    label_matchers,
    load_json,
    parse_into,
    parse_when,
)
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime import to_timestamp


def _window_from_flags(args: argparse.Namespace) -> pb.MaintenanceWindow:
    window = pb.MaintenanceWindow()
    if args.from_json:
        parse_into(load_json(args.from_json), window)
    if args.name:
        window.display_name = args.name
    if args.description:
        window.description = args.description
    if args.rrule:
        window.recurring.rrule = args.rrule
        if args.start:
            window.recurring.start_time.CopyFrom(to_timestamp(parse_when(args.start)))
        if args.duration:
            window.recurring.duration.CopyFrom(parse_duration(args.duration))
        window.recurring.time_zone = args.zone or ""
    elif args.start or args.end:
        if args.start:
            window.one_off.start_time.CopyFrom(to_timestamp(parse_when(args.start)))
        if args.end:
            window.one_off.end_time.CopyFrom(to_timestamp(parse_when(args.end)))
    s = window.scope
    s.integration_ids.extend(args.integration or [])
    s.clients.extend(args.client or [])
    s.sites.extend(args.site or [])
    s.device_globs.extend(args.device or [])
    s.label_matchers.extend(label_matchers(args.label or []))
    return window


def _window_row(w: pb.MaintenanceWindow) -> list[Any]:
    when = w.current_end_time if w.HasField("current_end_time") else w.next_start_time
    return [
        w.id,
        w.display_name,
        enum_name(pb.MaintenanceWindowState, w.state, "MAINTENANCE_WINDOW_STATE_"),
        "recurring" if w.HasField("recurring") else "one-off",
        short_time(when),
    ]


def _windows_create(ctx: CliContext, args: argparse.Namespace) -> int:
    request = api.CreateMaintenanceWindowRequest(
        maintenance_window=_window_from_flags(args), request_id=str(uuid.uuid4())
    )
    print_fields(ctx, call(ctx, "CreateMaintenanceWindow", request).maintenance_window)
    return 0


def _windows_list(ctx: CliContext, args: argparse.Namespace) -> int:
    states = [
        enum_value(pb.MaintenanceWindowState, "MAINTENANCE_WINDOW_STATE_", s)
        for s in args.state or []
    ]
    windows: list[pb.MaintenanceWindow] = []
    token = ""
    while True:
        reply = call(
            ctx,
            "ListMaintenanceWindows",
            api.ListMaintenanceWindowsRequest(states=states, page_token=token, page_size=500),  # type: ignore[arg-type]
        )
        windows.extend(reply.maintenance_windows)
        token = reply.next_page_token
        if not token:
            break
    data = [json_format.MessageToDict(w, preserving_proto_field_name=True) for w in windows]
    emit(
        ctx,
        data,
        rows=[_window_row(w) for w in windows],
        headers=["id", "name", "state", "kind", "ends/starts"],
    )
    return 0


def _windows_show(ctx: CliContext, args: argparse.Namespace) -> int:
    reply = call(ctx, "GetMaintenanceWindow", api.GetMaintenanceWindowRequest(window_id=args.id))
    print_fields(ctx, reply.maintenance_window)
    return 0


def _windows_end(ctx: CliContext, args: argparse.Namespace) -> int:
    request = api.EndMaintenanceWindowRequest(
        window_id=args.id, end_recurrence=args.recurrence, request_id=str(uuid.uuid4())
    )
    print_fields(ctx, call(ctx, "EndMaintenanceWindow", request).maintenance_window)
    return 0


def _windows_delete(ctx: CliContext, args: argparse.Namespace) -> int:
    call(
        ctx,
        "DeleteMaintenanceWindow",
        api.DeleteMaintenanceWindowRequest(window_id=args.id, request_id=str(uuid.uuid4())),
    )
    emit(ctx, {"deleted": args.id}, rows=None)
    return 0


def _window_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-json", metavar="FILE", help="a full MaintenanceWindow as JSON")
    parser.add_argument("--name")
    parser.add_argument("--description")
    parser.add_argument("--start", help="start (ISO 8601); DTSTART of a recurring window")
    parser.add_argument("--end", help="end of a one-off window (ISO 8601)")
    parser.add_argument("--rrule", help="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=SA")
    parser.add_argument("--duration", help="length of each occurrence, e.g. 2h")
    parser.add_argument("--zone", help="IANA zone of the recurrence (default: the tenant's)")
    for flag in ("--integration", "--client", "--site", "--device", "--label"):
        parser.add_argument(flag, action="append", help="scope; repeatable")


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``windows`` commands."""
    windows = subparsers.add_parser("windows", parents=parents, help="maintenance windows")
    sub = windows.add_subparsers(dest="windows_command", metavar="ACTION", required=True)
    p = sub.add_parser("create", parents=parents, help="create a window")
    _window_flags(p)
    p.set_defaults(handler=_windows_create)
    p = sub.add_parser("list", parents=parents, help="list windows")
    p.add_argument("--state", action="append", choices=["scheduled", "active", "ended"])
    p.set_defaults(handler=_windows_list)
    p = sub.add_parser("show", parents=parents, help="show a window")
    p.add_argument("id")
    p.set_defaults(handler=_windows_show)
    windows_update.register(sub, parents)
    p = sub.add_parser("end", parents=parents, help="end the current occurrence now")
    p.add_argument("id")
    p.add_argument("--recurrence", action="store_true", help="also cancel later occurrences")
    p.set_defaults(handler=_windows_end)
    p = sub.add_parser("delete", parents=parents, help="delete a window")
    p.add_argument("id")
    p.set_defaults(handler=_windows_delete)
