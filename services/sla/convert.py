"""Domain values <-> ``triage.sla.v1`` messages (shared by the API and the events)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from google.protobuf import duration_pb2, json_format, timestamp_pb2

from services.sla.domain.calendar_spec import (
    CalendarSpec,
    HolidayRule,
    HolidaySetRule,
    WeeklyShift,
)
from services.sla.domain.clock import Clock, ClockState, TargetKind
from services.sla.domain.policy import (
    FirstResponse,
    PolicySpec,
    ScopeKind,
    Target,
    Targets,
    ThresholdRule,
)
from services.sla.domain.ticket import (
    AuditEntry,
    BreachView,
    ClockRecord,
    TicketFacts,
    TicketView,
)
from services.sla.domain.violation import Violation
from triage.runtime import from_timestamp, to_timestamp
from triage.sla.v1 import resources_pb2 as pb
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.types.v1 import time_pb2

KIND_TO_PB = {
    TargetKind.FIRST_RESPONSE: pb.SLA_TARGET_KIND_FIRST_RESPONSE,
    TargetKind.RESOLUTION: pb.SLA_TARGET_KIND_RESOLUTION,
}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
STATE_TO_PB = {
    ClockState.RUNNING: pb.SLA_STATE_RUNNING,
    ClockState.PAUSED: pb.SLA_STATE_PAUSED,
    ClockState.MET: pb.SLA_STATE_MET,
    ClockState.BREACHED: pb.SLA_STATE_BREACHED,
    ClockState.CANCELLED: pb.SLA_STATE_CANCELLED,
}
ZERO = timedelta(0)
_SCOPES = {int(k) for k in ScopeKind}
_FIRST_RESPONSES = {int(k) for k in FirstResponse}


def stamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    """A Timestamp, or None (unset) for None."""
    return None if moment is None else to_timestamp(moment)


def duration(value: timedelta) -> duration_pb2.Duration:
    """A protobuf Duration."""
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message


# --- calendars ---------------------------------------------------------------------------------


def _tod(value: time, *, end_of_day: bool = False) -> time_pb2.TimeOfDay:
    if end_of_day and value == time(0):
        return time_pb2.TimeOfDay(hours=24)
    return time_pb2.TimeOfDay(hours=value.hour, minutes=value.minute, seconds=value.second)


def _time(message: time_pb2.TimeOfDay, path: str, bad: list[Violation]) -> time:
    h, m, s = message.hours, message.minutes, message.seconds
    if h == 24 and m == 0 and s == 0:
        return time(0)
    if not (0 <= h <= 23 and 0 <= m <= 59 and 0 <= s <= 59):
        bad.append(Violation(path, f"{h:02d}:{m:02d}:{s:02d} is not a time of day"))
        return time(0)
    return time(h, m, s)


def holiday_to_proto(rule: HolidayRule) -> pb.Holiday:
    """The API form of a holiday."""
    message = pb.Holiday(id=rule.id, display_name=rule.name)
    if rule.day is not None:
        message.date.CopyFrom(
            time_pb2.Date(year=rule.day.year, month=rule.day.month, day=rule.day.day)
        )
    if rule.yearly is not None:
        message.yearly.CopyFrom(time_pb2.MonthDay(month=rule.yearly[0], day=rule.yearly[1]))
    if rule.closed_start is not None and rule.closed_end is not None:
        message.closed_start.CopyFrom(_tod(rule.closed_start))
        message.closed_end.CopyFrom(_tod(rule.closed_end, end_of_day=True))
    return message


def holiday_from_proto(
    message: pb.Holiday, *, holiday_id: str, path: str, bad: list[Violation]
) -> HolidayRule:
    """A holiday from the API; problems are appended to ``bad``."""
    day: date | None = None
    yearly: tuple[int, int] | None = None
    which = message.WhichOneof("when")
    if which == "date":
        try:
            day = date(message.date.year, message.date.month, message.date.day)
        except ValueError:
            bad.append(Violation(f"{path}.date", "not a valid date"))
    elif which == "yearly":
        yearly = (message.yearly.month, message.yearly.day)
    else:
        bad.append(Violation(path, "a date or a yearly date is required"))
    start = end = None
    if message.HasField("closed_start") or message.HasField("closed_end"):
        start = _time(message.closed_start, f"{path}.closed_start", bad)
        end = _time(message.closed_end, f"{path}.closed_end", bad)
    return HolidayRule(
        id=holiday_id,
        name=message.display_name,
        day=day,
        yearly=yearly,
        closed_start=start,
        closed_end=end,
    )


def calendar_to_proto(
    spec: CalendarSpec, *, tenant_id: str, created: datetime, updated: datetime
) -> pb.Calendar:
    """The API form of a calendar."""
    return pb.Calendar(
        id=spec.id,
        tenant_id=tenant_id,
        display_name=spec.name,
        time_zone=spec.zone,
        always_open=spec.always_open,
        shifts=[
            time_pb2.WeeklyTimeRange(
                days=[time_pb2.DayOfWeek.ValueType(d) for d in s.days],
                start=_tod(s.start),
                end=_tod(s.end, end_of_day=s.end == time(0) and s.start != time(0)),
            )
            for s in spec.shifts
        ],
        holidays=[holiday_to_proto(h) for h in spec.holidays],
        holiday_sets=[
            pb.HolidaySet(
                country_code=h.country,
                subdivision_code=h.subdivision,
                categories=list(h.categories),
            )
            for h in spec.holiday_sets
        ],
        version=spec.version,
        create_time=to_timestamp(created),
        update_time=to_timestamp(updated),
        etag=str(spec.version),
    )


def calendar_from_proto(
    message: pb.Calendar,
    *,
    calendar_id: str,
    holiday_ids: Iterable[str],
    prefix: str = "calendar",
) -> tuple[CalendarSpec, list[Violation]]:
    """A calendar from the API with the problems found converting it."""
    bad: list[Violation] = []
    shifts: list[WeeklyShift] = []
    for i, shift in enumerate(message.shifts):
        path = f"{prefix}.shifts[{i}]"
        days = tuple(int(d) for d in shift.days)
        if any(d not in range(1, 8) for d in days):
            bad.append(Violation(f"{path}.days", "days run from MONDAY to SUNDAY"))
        if not shift.HasField("start") or not shift.HasField("end"):
            bad.append(Violation(path, "start and end are required"))
        start = _time(shift.start, f"{path}.start", bad)
        if shift.start.hours == 24:
            bad.append(Violation(f"{path}.start", "24:00 is only allowed as an end"))
        end = _time(shift.end, f"{path}.end", bad)
        shifts.append(WeeklyShift(days, start, end))
    ids = iter(holiday_ids)
    rules = [
        holiday_from_proto(h, holiday_id=h.id or next(ids), path=f"{prefix}.holidays[{i}]", bad=bad)
        for i, h in enumerate(message.holidays)
    ]
    spec = CalendarSpec(
        id=calendar_id,
        name=message.display_name,
        zone=message.time_zone,
        always_open=message.always_open,
        shifts=tuple(shifts),
        holidays=tuple(rules),
        holiday_sets=tuple(
            HolidaySetRule(
                h.country_code.upper(),
                h.subdivision_code.upper(),
                tuple(sorted({c.strip().lower() for c in h.categories})),
            )
            for h in message.holiday_sets
        ),
        version=message.version,
    )
    return spec, bad


# --- policies ----------------------------------------------------------------------------------


def _target_to_proto(target: Target | None) -> pb.SlaTarget | None:
    if target is None:
        return None
    return pb.SlaTarget(duration=duration(target.duration), business_time=target.business_time)


def _action_to_proto(action: dict[str, Any]) -> pb.ThresholdAction:
    return json_format.ParseDict(action, pb.ThresholdAction())


def actions_to_proto(actions: Sequence[dict[str, Any]]) -> list[pb.ThresholdAction]:
    """Stored threshold actions as messages."""
    return [_action_to_proto(a) for a in actions]


def policy_to_proto(
    spec: PolicySpec, *, tenant_id: str, created: datetime, updated: datetime
) -> pb.SlaPolicy:
    """The API form of a policy."""
    return pb.SlaPolicy(
        id=spec.id,
        tenant_id=tenant_id,
        display_name=spec.name,
        scope=pb.PolicyScope(
            kind=pb.PolicyScopeKind.ValueType(int(spec.scope)),
            client_id=spec.client_id,
            queue=spec.queue,
        ),
        calendar_id=spec.calendar_id,
        targets=[
            pb.PriorityTargets(
                priority=tickets_pb.Priority.ValueType(t.priority),
                first_response=_target_to_proto(t.first_response),
                resolution=_target_to_proto(t.resolution),
            )
            for t in spec.targets
        ],
        thresholds=[
            pb.Threshold(
                percent=r.percent,
                target_kinds=[KIND_TO_PB[k] for k in sorted(r.kinds)],
                actions=actions_to_proto(r.actions),
            )
            for r in spec.thresholds
        ],
        pause_statuses=[tickets_pb.TicketStatus.ValueType(s) for s in sorted(spec.pause_statuses)],
        first_response=pb.FirstResponseDefinition.ValueType(int(spec.first_response)),
        version=spec.version,
        create_time=to_timestamp(created),
        update_time=to_timestamp(updated),
        etag=str(spec.version),
    )


def _target_from_proto(
    message: pb.PriorityTargets, name: str, path: str, bad: list[Violation]
) -> Target | None:
    if not message.HasField(name):  # type: ignore[arg-type]
        return None
    target: pb.SlaTarget = getattr(message, name)
    if not target.HasField("duration"):
        bad.append(Violation(f"{path}.{name}.duration", "is required"))
        return None
    return Target(target.duration.ToTimedelta(), target.business_time)


def _action_violations(action: pb.ThresholdAction, path: str) -> list[Violation]:
    """An action that would do nothing is refused rather than stored."""
    which = action.WhichOneof("action")
    if which is None:
        return [Violation(path, "an action is required")]
    if which == "notify" and not (action.notify.channel_ids or action.notify.default_channels):
        return [Violation(f"{path}.notify", "name channel_ids or set default_channels")]
    escalate = action.escalate
    if which == "escalate" and not (escalate.priority or escalate.raise_levels):
        return [Violation(f"{path}.escalate", "set a priority or raise_levels")]
    if which == "reassign" and not (action.reassign.queue or action.reassign.assignee):
        return [Violation(f"{path}.reassign", "set a queue or an assignee")]
    return []


def policy_from_proto(
    message: pb.SlaPolicy, *, policy_id: str, prefix: str = "sla_policy"
) -> tuple[PolicySpec, list[Violation]]:
    """A policy from the API with the problems found converting it (defaults not applied)."""
    bad: list[Violation] = []
    targets = tuple(
        Targets(
            int(t.priority),
            _target_from_proto(t, "first_response", f"{prefix}.targets[{i}]", bad),
            _target_from_proto(t, "resolution", f"{prefix}.targets[{i}]", bad),
        )
        for i, t in enumerate(message.targets)
    )
    thresholds: list[ThresholdRule] = []
    for i, threshold in enumerate(message.thresholds):
        kinds: set[TargetKind] = set()
        for kind in threshold.target_kinds:
            if kind not in KIND_FROM_PB:
                bad.append(Violation(f"{prefix}.thresholds[{i}].target_kinds", "unknown kind"))
            else:
                kinds.add(KIND_FROM_PB[kind])
        for j, action in enumerate(threshold.actions):
            bad.extend(_action_violations(action, f"{prefix}.thresholds[{i}].actions[{j}]"))
        thresholds.append(
            ThresholdRule(
                threshold.percent,
                frozenset(kinds),
                tuple(
                    json_format.MessageToDict(a, preserving_proto_field_name=True)
                    for a in threshold.actions
                ),
            )
        )
    scope = message.scope
    spec = PolicySpec(
        id=policy_id,
        name=message.display_name,
        scope=ScopeKind(scope.kind) if int(scope.kind) in _SCOPES else ScopeKind.UNSPECIFIED,
        client_id=scope.client_id,
        queue=scope.queue,
        calendar_id=message.calendar_id,
        targets=targets,
        thresholds=tuple(thresholds),
        pause_statuses=frozenset(int(s) for s in message.pause_statuses),
        first_response=FirstResponse(message.first_response)
        if int(message.first_response) in _FIRST_RESPONSES
        else FirstResponse.PUBLIC_HUMAN_COMMENT,
        version=message.version,
    )
    return spec, bad


# --- tickets and clocks ------------------------------------------------------------------------


def ticket_ref(facts: TicketFacts) -> pb.SlaTicketRef:
    """The ticket fields carried in SLA messages."""
    return pb.SlaTicketRef(
        ticket_id=facts.ticket_id,
        number=facts.number,
        title=facts.title,
        priority=tickets_pb.Priority.ValueType(facts.priority),
        status=tickets_pb.TicketStatus.ValueType(facts.status),
        client_id=facts.client_id,
        client_name=facts.client_name,
        queue=facts.queue,
        assignee=facts.assignee,
    )


def clock_to_proto(record: ClockRecord, now: datetime) -> pb.SlaClock:
    """One clock as of ``now``: state, due instant, remaining, elapsed and percent used."""
    clock: Clock = record.clock
    elapsed = clock.consumed_at(now)
    remaining = max(ZERO, clock.target - elapsed)
    nxt = clock.next_threshold()
    cancelled = clock.state is ClockState.CANCELLED
    return pb.SlaClock(
        kind=KIND_TO_PB[clock.kind],
        state=STATE_TO_PB[record.reported_state(now)],
        target=pb.SlaTarget(duration=duration(clock.target), business_time=clock.business_time),
        start_time=to_timestamp(clock.started_at),
        due_time=stamp(clock.due_at),
        remaining=duration(remaining),
        elapsed=duration(elapsed),
        percent_used=round(elapsed / clock.target * 100, 4),
        pause_time=stamp(clock.paused_at),
        met_time=None if cancelled else stamp(clock.completed_at),
        cancel_time=stamp(clock.completed_at) if cancelled else None,
        breach_time=stamp(record.breached_at),
        fired_thresholds=sorted(clock.fired),
        next_threshold_percent=nxt[0] if nxt else 0,
        next_threshold_time=stamp(nxt[1]) if nxt else None,
    )


def ticket_sla_to_proto(
    view: TicketView, records: Sequence[ClockRecord], now: datetime
) -> pb.TicketSla:
    """A ticket's SLA as of ``now``."""
    snapshot = view.snapshot
    return pb.TicketSla(
        ticket=ticket_ref(view.facts),
        policy_id=snapshot.policy.id,
        policy_version=snapshot.policy.version,
        calendar_id=snapshot.calendar.id,
        calendar_version=snapshot.calendar.version,
        clocks=[clock_to_proto(r, now) for r in records],
        compute_time=to_timestamp(now),
    )


def audit_to_proto(entry: AuditEntry) -> pb.SlaAuditEntry:
    """One audit entry."""
    return pb.SlaAuditEntry(
        id=entry.id,
        ticket_id=entry.ticket_id,
        target_kind=KIND_TO_PB[entry.target_kind],
        kind=pb.SlaAuditKind.ValueType(int(entry.kind)),
        cause=entry.cause,
        cause_event_id=entry.cause_event_id,
        before_state=STATE_TO_PB[entry.before_state] if entry.before_state else 0,  # type: ignore[arg-type]
        after_state=STATE_TO_PB[entry.after_state] if entry.after_state else 0,  # type: ignore[arg-type]
        before_due_time=stamp(entry.before_due_at),
        after_due_time=stamp(entry.after_due_at),
        percent=entry.percent,
        late=entry.late,
        event_time=to_timestamp(entry.event_at),
    )


def breach_to_proto(breach: BreachView) -> pb.Breach:
    """One breach."""
    return pb.Breach(
        ticket=ticket_ref(breach.ticket),
        target_kind=KIND_TO_PB[breach.kind],
        due_time=stamp(breach.due_at),
        breach_time=to_timestamp(breach.breached_at),
        met_time=stamp(breach.met_at),
        cancel_time=stamp(breach.cancelled_at),
    )


def optional_time(message: timestamp_pb2.Timestamp, present: bool) -> datetime | None:
    """A Timestamp field as an instant, or None when unset."""
    return from_timestamp(message) if present else None
