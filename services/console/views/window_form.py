"""The maintenance-window editor form <-> a MaintenanceWindow message (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

from triage.rules.v1 import resources_pb2 as rules_res

#: API field path -> the form field its error is shown beside.
FIELDS = {
    "display_name": "display_name",
    "description": "description",
    "one_off.start_time": "start",
    "recurring.start_time": "start",
    "one_off.end_time": "end",
    "end_override_time": "end",
    "recurring.rrule": "rrule",
    "rrule": "rrule",
    "recurring.duration": "duration_minutes",
    "duration": "duration_minutes",
    "recurring.time_zone": "time_zone",
    "time_zone": "time_zone",
    "scope.clients": "clients",
    "scope.device_globs": "device_globs",
    "scope.integration_ids": "integration_ids",
    "scope.sites": "sites",
    "one_off": "start",
    "recurring": "rrule",
    "schedule": "start",
}
FORM_TIME = "%Y-%m-%dT%H:%M"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_local(text: str) -> datetime | None:
    """A ``datetime-local`` value, read as UTC; None when empty or malformed."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


def form_time(stamp: timestamp_pb2.Timestamp | None) -> str:
    """A Timestamp as a ``datetime-local`` value in UTC ("" when unset)."""
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return ""
    return stamp.ToDatetime(tzinfo=UTC).strftime(FORM_TIME)


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(moment)
    return out


def window_from_form(
    one: dict[str, str], *, base: rules_res.MaintenanceWindow | None = None
) -> tuple[rules_res.MaintenanceWindow, list[str], dict[str, str]]:
    """The edited window (``base`` with the form over it), the update mask paths, and
    errors the form itself can tell (an unreadable time or duration)."""
    errors: dict[str, str] = {}
    window = rules_res.MaintenanceWindow()
    if base is not None:
        window.CopyFrom(base)
    window.display_name = one.get("display_name", "").strip()
    window.description = one.get("description", "").strip()
    start = parse_local(one.get("start", ""))
    if one.get("start") and start is None:
        errors["start"] = "not a date and time"
    recurring = one.get("schedule") == "recurring"
    if recurring:
        r = rules_res.RecurringSchedule(
            rrule=one.get("rrule", "").strip().removeprefix("RRULE:"),
            time_zone=one.get("time_zone", "").strip(),
        )
        if start is not None:
            r.start_time.CopyFrom(_stamp(start))
        minutes = one.get("duration_minutes", "").strip()
        if minutes.isdigit():
            r.duration.CopyFrom(duration_pb2.Duration(seconds=int(minutes) * 60))
        elif minutes:
            errors["duration_minutes"] = "a whole number of minutes"
        window.recurring.CopyFrom(r)
    else:
        o = rules_res.OneOffSchedule()
        end = parse_local(one.get("end", ""))
        if one.get("end") and end is None:
            errors["end"] = "not a date and time"
        if start is not None:
            o.start_time.CopyFrom(_stamp(start))
        if end is not None:
            o.end_time.CopyFrom(_stamp(end))
        window.one_off.CopyFrom(o)
    scope = window.scope
    del scope.clients[:], scope.device_globs[:], scope.integration_ids[:], scope.sites[:]
    scope.clients.extend(_csv(one.get("clients", "")))
    scope.device_globs.extend(_csv(one.get("device_globs", "")))
    scope.integration_ids.extend(_csv(one.get("integration_ids", "")))
    scope.sites.extend(_csv(one.get("sites", "")))
    schedule = "recurring" if recurring else "one_off"
    return window, ["description", "display_name", schedule, "scope"], errors


def new_window(now: datetime) -> rules_res.MaintenanceWindow:
    """A blank one-off window starting on the next hour, lasting two hours."""
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return rules_res.MaintenanceWindow(
        one_off=rules_res.OneOffSchedule(
            start_time=_stamp(start), end_time=_stamp(start + timedelta(hours=2))
        )
    )
