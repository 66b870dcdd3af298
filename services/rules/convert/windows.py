"""Maintenance windows: proto <-> domain, stored JSON, the API's field paths, drafts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.rules.convert.common import from_json, merge, to_json
from services.rules.convert.rules import label_matchers
from services.rules.domain import WindowScope
from services.rules.domain.drafts import ProposedWindow, WindowDraft
from services.rules.domain.records import WindowRecord, etag
from services.rules.domain.views import WindowState, WindowView
from triage.rules.v1 import resources_pb2 as pb
from triage.runtime import from_timestamp, to_timestamp

#: The fields an update may change.
WINDOW_MUTABLE = {
    "display_name",
    "description",
    "one_off",
    "recurring",
    "scope",
    "end_override_time",
}
STATES: dict[WindowState, int] = {
    "scheduled": pb.MAINTENANCE_WINDOW_STATE_SCHEDULED,
    "active": pb.MAINTENANCE_WINDOW_STATE_ACTIVE,
    "ended": pb.MAINTENANCE_WINDOW_STATE_ENDED,
}
STATE_NAMES = {number: name for name, number in STATES.items()}


def window_path(domain_path: str, *, recurring: bool) -> str:
    """The proto field path of a window for a domain violation path."""
    schedule = "recurring" if recurring else "one_off"
    mapping = {
        "starts_at": f"{schedule}.start_time",
        "ends_at": "one_off.end_time",
        "rrule": "recurring.rrule",
        "duration": "recurring.duration",
        "time_zone": "recurring.time_zone",
        "ended_early_at": "end_override_time",
        "extended_until": "end_override_time",
        "id": "id",
        "name": "display_name",
    }
    head, dot, rest = domain_path.partition(".")
    return mapping.get(head, head) + (dot + rest if dot else "")


def window_scope(scope: pb.WindowScope) -> WindowScope:
    """A domain window scope."""
    return WindowScope(
        integration_ids=tuple(scope.integration_ids),
        clients=tuple(scope.clients),
        sites=tuple(scope.sites),
        device_globs=tuple(scope.device_globs),
        label_matchers=label_matchers(scope.label_matchers),
    )


def window_values(message: pb.MaintenanceWindow) -> dict[str, Any]:
    """Column values for a proto window's schedule and scope."""
    values: dict[str, Any] = {
        "name": message.display_name,
        "description": message.description,
        "scope": to_json(message.scope),
        "starts_at": None,
        "ends_at": None,
        "rrule": None,
        "duration_seconds": None,
        "time_zone": "",
    }
    which = message.WhichOneof("schedule")
    if which == "one_off":
        if message.one_off.HasField("start_time"):
            values["starts_at"] = from_timestamp(message.one_off.start_time)
        if message.one_off.HasField("end_time"):
            values["ends_at"] = from_timestamp(message.one_off.end_time)
    elif which == "recurring":
        r = message.recurring
        values["rrule"] = r.rrule
        if r.HasField("start_time"):
            values["starts_at"] = from_timestamp(r.start_time)
        values["duration_seconds"] = (
            r.duration.ToTimedelta().total_seconds() if r.HasField("duration") else 0.0
        )
        values["time_zone"] = r.time_zone
    return values


def _message(
    row: WindowRecord,
    state: int = 0,
    next_start: datetime | None = None,
    current_end: datetime | None = None,
) -> pb.MaintenanceWindow:
    message = pb.MaintenanceWindow(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.name,
        description=row.description,
        state=state,  # type: ignore[arg-type]
        rule_set_version=row.rule_set_version,
        creator=row.creator,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        etag=etag(row.version),
    )
    from_json(row.scope, message.scope)
    if row.rrule is None:
        if row.starts_at is not None:
            message.one_off.start_time.CopyFrom(to_timestamp(row.starts_at))
        if row.ends_at is not None:
            message.one_off.end_time.CopyFrom(to_timestamp(row.ends_at))
    else:
        message.recurring.rrule = row.rrule
        if row.starts_at is not None:
            message.recurring.start_time.CopyFrom(to_timestamp(row.starts_at))
        message.recurring.duration.FromTimedelta(timedelta(seconds=row.duration_seconds or 0))
        message.recurring.time_zone = row.time_zone
    if row.end_override_at is not None:
        message.end_override_time.CopyFrom(to_timestamp(row.end_override_at))
    if row.ended_early_at is not None:
        message.ended_early_time.CopyFrom(to_timestamp(row.ended_early_at))
    if next_start is not None:
        message.next_start_time.CopyFrom(to_timestamp(next_start))
    if current_end is not None:
        message.current_end_time.CopyFrom(to_timestamp(current_end))
    return message


def window_to_proto(view: WindowView) -> pb.MaintenanceWindow:
    """The proto window of a stored window and its state."""
    return _message(view.record, STATES[view.state], view.next_start, view.current_end)


def stored_scope(data: Mapping[str, Any] | None) -> WindowScope:
    """The domain scope of a window's stored scope JSON."""
    return window_scope(from_json(data, pb.WindowScope()))


def _path(prefix: str, message: pb.MaintenanceWindow) -> Callable[[str], str]:
    recurring = message.WhichOneof("schedule") == "recurring"

    def path(domain_path: str) -> str:
        return prefix + window_path(domain_path, recurring=recurring)

    return path


def window_draft(message: pb.MaintenanceWindow) -> WindowDraft:
    """The draft of a window a write sends."""
    return WindowDraft(
        values=window_values(message),
        scope=window_scope(message.scope),
        scheduled=message.WhichOneof("schedule") is not None,
        end_override=(
            from_timestamp(message.end_override_time)
            if message.HasField("end_override_time")
            else None
        ),
        path=_path("maintenance_window.", message),
    )


def patched_window(
    request: pb.MaintenanceWindow, paths: set[str]
) -> Callable[[WindowRecord], WindowDraft]:
    """How an update changes a stored window: its ``paths`` taken from ``request``."""

    def patch(record: WindowRecord) -> WindowDraft:
        merged = _message(record)
        merge(request, merged, paths)
        return window_draft(merged)

    return patch


def proposed_window(message: pb.MaintenanceWindow, index: int) -> ProposedWindow:
    """A window proposed to Simulate (no id: ``new-<index>``)."""
    values = window_values(message)
    values.update(
        id=message.id or f"new-{index}",
        ended_early_at=from_timestamp(message.ended_early_time)
        if message.HasField("ended_early_time")
        else None,
    )
    return ProposedWindow(
        values=values,
        scope=window_scope(message.scope),
        path=_path(f"proposed_windows.maintenance_windows[{index}].", message),
    )
