"""Calendars and policies as plain values: validation, JSON snapshots, the default preset.

Priorities and ticket statuses are the integer values of the ``triage.tickets.v1`` enums
(P1 = 1 ... P5 = 5; AWAITING_CUSTOMER = 4), so this module needs no protobuf.
Threshold actions are opaque JSON objects here: only the tickets and notify services
interpret them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.sla.domain.calendar import BusinessCalendar, Closure, HolidaySet, Shift
from services.sla.domain.clock import DEFAULT_THRESHOLDS, TargetKind

__all__ = [
    "AWAITING_CUSTOMER",
    "DEFAULT_PAUSE_STATUSES",
    "CalendarSpec",
    "FirstResponse",
    "HolidayRule",
    "HolidaySetRule",
    "PolicySpec",
    "ScopeKind",
    "Target",
    "Targets",
    "ThresholdRule",
    "Violation",
    "WeeklyShift",
    "default_calendar",
    "default_policy",
]

AWAITING_CUSTOMER = 4
DEFAULT_PAUSE_STATUSES: frozenset[int] = frozenset({AWAITING_CUSTOMER})
PRIORITIES = range(1, 6)
STATUSES = range(1, 7)
YEARLY_CLOSURE_YEARS = 12
"""Yearly partial-day closures are expanded to concrete dates this many years ahead."""


class ScopeKind(IntEnum):
    """Which tickets a policy applies to (values of ``PolicyScopeKind``)."""

    UNSPECIFIED = 0
    TENANT_DEFAULT = 1
    CLIENT = 2
    QUEUE = 3


class FirstResponse(IntEnum):
    """What counts as the first response (values of ``FirstResponseDefinition``)."""

    UNSPECIFIED = 0
    PUBLIC_HUMAN_COMMENT = 1
    ANY_HUMAN_COMMENT = 2
    ANY_HUMAN_TOUCH = 3
    STATUS_CHANGE = 4


@dataclass(frozen=True, slots=True)
class Violation:
    """One bad field: its path in the request and why."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class WeeklyShift:
    """Open hours starting on ``days`` (ISO: Monday 1; empty = every day)."""

    days: tuple[int, ...]
    start: time
    end: time
    """``time(0)`` after a non-midnight start means the end of the start day."""


@dataclass(frozen=True, slots=True)
class HolidayRule:
    """A one-off or yearly closed day, or a partial-day closure when times are set."""

    id: str
    name: str
    day: date | None = None
    yearly: tuple[int, int] | None = None
    closed_start: time | None = None
    closed_end: time | None = None


@dataclass(frozen=True, slots=True)
class HolidaySetRule:
    """A country/subdivision set of the ``holidays`` library."""

    country: str
    subdivision: str = ""
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """A tenant's business-hours calendar as stored and snapshotted."""

    id: str
    name: str
    zone: str
    always_open: bool = False
    shifts: tuple[WeeklyShift, ...] = ()
    holidays: tuple[HolidayRule, ...] = ()
    holiday_sets: tuple[HolidaySetRule, ...] = ()
    version: int = 0

    def validate(self, prefix: str = "calendar") -> list[Violation]:
        """Every problem with this calendar, as field violations."""
        bad: list[Violation] = []
        if not self.name.strip():
            bad.append(Violation(f"{prefix}.display_name", "is required"))
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            bad.append(Violation(f"{prefix}.time_zone", f"unknown IANA time zone {self.zone!r}"))
        if not self.always_open and not self.shifts:
            bad.append(Violation(f"{prefix}.shifts", "at least one shift, or always_open"))
        for i, shift in enumerate(self.shifts):
            if any(d not in range(1, 8) for d in shift.days):
                bad.append(Violation(f"{prefix}.shifts[{i}].days", "days run from 1 to 7"))
        for i, holiday in enumerate(self.holidays):
            bad.extend(_holiday_violations(holiday, f"{prefix}.holidays[{i}]"))
        for i, holiday_set in enumerate(self.holiday_sets):
            try:
                BusinessCalendar.weekly(
                    "UTC", {}, holiday_sets=[(holiday_set.country, holiday_set.subdivision or None)]
                )
            except ValueError as exc:
                bad.append(Violation(f"{prefix}.holiday_sets[{i}]", str(exc)))
        return bad

    def business_calendar(self) -> BusinessCalendar:
        """The exact calendar for business-time math (holidays and closures applied)."""
        schedule: dict[int, list[Shift]] = {i: [] for i in range(7)}
        if self.always_open:
            for weekday in range(7):
                schedule[weekday].append(Shift(time(0), time(0)))
        else:
            for shift in self.shifts:
                for iso_day in shift.days or range(1, 8):
                    schedule[iso_day - 1].append(Shift(shift.start, shift.end))
        one_off: set[date] = set()
        yearly: set[tuple[int, int]] = set()
        closures: list[Closure] = []
        for holiday in self.holidays:
            days: list[date] = []
            if holiday.day is not None:
                days.append(holiday.day)
            if holiday.closed_start is None or holiday.closed_end is None:
                if holiday.day is not None:
                    one_off.add(holiday.day)
                if holiday.yearly is not None:
                    yearly.add(holiday.yearly)
                continue
            if holiday.yearly is not None:
                days.extend(_yearly_dates(holiday.yearly))
            closures.extend(Closure(d, holiday.closed_start, holiday.closed_end) for d in days)
        return BusinessCalendar.weekly(
            self.zone,
            schedule,
            one_off_holidays=one_off,
            yearly_holidays=yearly,
            holiday_sets=[HolidaySet(h.country, h.subdivision or None) for h in self.holiday_sets],
            closures=closures,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "id": self.id,
            "name": self.name,
            "zone": self.zone,
            "always_open": self.always_open,
            "shifts": [shift_to_json(s) for s in self.shifts],
            "holidays": [holiday_to_json(h) for h in self.holidays],
            "holiday_sets": [
                {"country": h.country, "subdivision": h.subdivision, "categories": h.categories}
                for h in self.holiday_sets
            ],
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CalendarSpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            id=data["id"],
            name=data["name"],
            zone=data["zone"],
            always_open=bool(data["always_open"]),
            shifts=tuple(shift_from_json(s) for s in data["shifts"]),
            holidays=tuple(holiday_from_json(h) for h in data["holidays"]),
            holiday_sets=tuple(
                HolidaySetRule(h["country"], h["subdivision"], tuple(h["categories"]))
                for h in data["holiday_sets"]
            ),
            version=int(data["version"]),
        )


def _yearly_dates(month_day: tuple[int, int]) -> list[date]:
    month, day = month_day
    first = date.today().year - 1
    found: list[date] = []
    for year in range(first, first + YEARLY_CLOSURE_YEARS):
        try:
            found.append(date(year, month, day))
        except ValueError:
            continue
    return found


def _holiday_violations(holiday: HolidayRule, prefix: str) -> list[Violation]:
    bad: list[Violation] = []
    if (holiday.day is None) == (holiday.yearly is None):
        bad.append(Violation(prefix, "exactly one of date or yearly is required"))
    if holiday.yearly is not None:
        try:
            date(2000, *holiday.yearly)
        except ValueError:
            bad.append(Violation(f"{prefix}.yearly", "not a day of the year"))
    if (holiday.closed_start is None) != (holiday.closed_end is None):
        bad.append(Violation(f"{prefix}.closed_end", "set both closed_start and closed_end"))
    return bad


def shift_to_json(shift: WeeklyShift) -> dict[str, Any]:
    """A shift as JSON."""
    return {
        "days": list(shift.days),
        "start": shift.start.isoformat(),
        "end": shift.end.isoformat(),
    }


def shift_from_json(data: Mapping[str, Any]) -> WeeklyShift:
    """Inverse of :func:`shift_to_json`."""
    return WeeklyShift(
        tuple(data["days"]), time.fromisoformat(data["start"]), time.fromisoformat(data["end"])
    )


def holiday_to_json(holiday: HolidayRule) -> dict[str, Any]:
    """A holiday as JSON."""
    return {
        "id": holiday.id,
        "name": holiday.name,
        "day": holiday.day.isoformat() if holiday.day else None,
        "yearly": list(holiday.yearly) if holiday.yearly else None,
        "closed_start": holiday.closed_start.isoformat() if holiday.closed_start else None,
        "closed_end": holiday.closed_end.isoformat() if holiday.closed_end else None,
    }


def holiday_from_json(data: Mapping[str, Any]) -> HolidayRule:
    """Inverse of :func:`holiday_to_json`."""
    yearly = data.get("yearly")
    return HolidayRule(
        id=data["id"],
        name=data["name"],
        day=date.fromisoformat(data["day"]) if data.get("day") else None,
        yearly=(int(yearly[0]), int(yearly[1])) if yearly else None,
        closed_start=time.fromisoformat(data["closed_start"]) if data.get("closed_start") else None,
        closed_end=time.fromisoformat(data["closed_end"]) if data.get("closed_end") else None,
    )


@dataclass(frozen=True, slots=True)
class Target:
    """One promise: a duration in business or calendar (24x7) time."""

    duration: timedelta
    business_time: bool = True


@dataclass(frozen=True, slots=True)
class Targets:
    """The targets of one priority."""

    priority: int
    first_response: Target | None = None
    resolution: Target | None = None

    def of(self, kind: TargetKind) -> Target | None:
        """The target for ``kind``."""
        return self.first_response if kind is TargetKind.FIRST_RESPONSE else self.resolution


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """At ``percent`` of the targets of ``kinds`` (empty: both), run ``actions``."""

    percent: int
    kinds: frozenset[TargetKind] = frozenset()
    actions: tuple[dict[str, Any], ...] = ()

    def applies_to(self, kind: TargetKind) -> bool:
        """Whether this threshold watches clocks of ``kind``."""
        return not self.kinds or kind in self.kinds


DEFAULT_THRESHOLD_RULES = tuple(ThresholdRule(p) for p in DEFAULT_THRESHOLDS)


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A tenant's SLA policy as stored and snapshotted."""

    id: str
    name: str
    scope: ScopeKind
    client_id: str = ""
    queue: str = ""
    calendar_id: str = ""
    targets: tuple[Targets, ...] = ()
    thresholds: tuple[ThresholdRule, ...] = DEFAULT_THRESHOLD_RULES
    pause_statuses: frozenset[int] = DEFAULT_PAUSE_STATUSES
    first_response: FirstResponse = FirstResponse.PUBLIC_HUMAN_COMMENT
    version: int = 0

    def targets_for(self, priority: int) -> Targets | None:
        """The targets of ``priority``; None when the priority has no SLA."""
        return next((t for t in self.targets if t.priority == priority), None)

    def needs_calendar(self) -> bool:
        """Whether any target counts business time."""
        return any(
            t is not None and t.business_time
            for targets in self.targets
            for t in (targets.first_response, targets.resolution)
        )

    def percents(self, kind: TargetKind) -> tuple[int, ...]:
        """The threshold percents of clocks of ``kind``; 100 (the breach) always included."""
        return tuple(sorted({100, *(t.percent for t in self.thresholds if t.applies_to(kind))}))

    def actions(self, kind: TargetKind, percent: int) -> tuple[dict[str, Any], ...]:
        """The actions configured for ``percent`` of ``kind``."""
        found: list[dict[str, Any]] = []
        for rule in self.thresholds:
            if rule.percent == percent and rule.applies_to(kind):
                found.extend(rule.actions)
        return tuple(found)

    def validate(self, prefix: str = "sla_policy") -> list[Violation]:
        """Every problem with this policy, as field violations."""
        bad: list[Violation] = []
        if not self.name.strip():
            bad.append(Violation(f"{prefix}.display_name", "is required"))
        if self.scope is ScopeKind.UNSPECIFIED:
            bad.append(Violation(f"{prefix}.scope.kind", "is required"))
        if self.scope is ScopeKind.CLIENT and not self.client_id:
            bad.append(Violation(f"{prefix}.scope.client_id", "is required for a client scope"))
        if self.scope is ScopeKind.QUEUE and not self.queue:
            bad.append(Violation(f"{prefix}.scope.queue", "is required for a queue scope"))
        seen: set[int] = set()
        for i, targets in enumerate(self.targets):
            path = f"{prefix}.targets[{i}]"
            if targets.priority not in PRIORITIES:
                bad.append(Violation(f"{path}.priority", "must be P1 to P5"))
            elif targets.priority in seen:
                bad.append(Violation(f"{path}.priority", "is listed twice"))
            seen.add(targets.priority)
            for name, target in (
                ("first_response", targets.first_response),
                ("resolution", targets.resolution),
            ):
                if target is not None and target.duration <= timedelta(0):
                    bad.append(Violation(f"{path}.{name}.duration", "must be positive"))
        for i, rule in enumerate(self.thresholds):
            if not 1 <= rule.percent <= 100:
                bad.append(
                    Violation(f"{prefix}.thresholds[{i}].percent", "must be between 1 and 100")
                )
        for status in self.pause_statuses:
            if status not in STATUSES or status >= 5:
                bad.append(
                    Violation(f"{prefix}.pause_statuses", f"status {status} cannot pause a clock")
                )
        if self.needs_calendar() and not self.calendar_id:
            bad.append(Violation(f"{prefix}.calendar_id", "is required for business-time targets"))
        return bad

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "id": self.id,
            "name": self.name,
            "scope": int(self.scope),
            "client_id": self.client_id,
            "queue": self.queue,
            "calendar_id": self.calendar_id,
            "targets": [
                {
                    "priority": t.priority,
                    "first_response": _target_json(t.first_response),
                    "resolution": _target_json(t.resolution),
                }
                for t in self.targets
            ],
            "thresholds": [
                {
                    "percent": r.percent,
                    "kinds": sorted(k.value for k in r.kinds),
                    "actions": list(r.actions),
                }
                for r in self.thresholds
            ],
            "pause_statuses": sorted(self.pause_statuses),
            "first_response": int(self.first_response),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicySpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            id=data["id"],
            name=data["name"],
            scope=ScopeKind(data["scope"]),
            client_id=data["client_id"],
            queue=data["queue"],
            calendar_id=data["calendar_id"],
            targets=tuple(
                Targets(
                    t["priority"],
                    _target_from(t["first_response"]),
                    _target_from(t["resolution"]),
                )
                for t in data["targets"]
            ),
            thresholds=tuple(
                ThresholdRule(
                    r["percent"],
                    frozenset(TargetKind(k) for k in r["kinds"]),
                    tuple(r["actions"]),
                )
                for r in data["thresholds"]
            ),
            pause_statuses=frozenset(data["pause_statuses"]),
            first_response=FirstResponse(data["first_response"]),
            version=int(data["version"]),
        )


def _target_json(target: Target | None) -> dict[str, Any] | None:
    if target is None:
        return None
    return {"seconds": target.duration.total_seconds(), "business_time": target.business_time}


def _target_from(data: Mapping[str, Any] | None) -> Target | None:
    if data is None:
        return None
    return Target(timedelta(seconds=data["seconds"]), bool(data["business_time"]))


MINUTE = timedelta(minutes=1)
_PRESET: tuple[tuple[int, int, int, bool], ...] = (
    (1, 15, 60, False),
    (2, 30, 240, True),
    (3, 60, 1440, True),
    (4, 240, 4320, True),
    (5, 480, 10080, True),
)


def default_calendar(zone: str) -> CalendarSpec:
    """Monday to Friday 09:00-17:00 in ``zone``: the calendar of the default policy."""
    return CalendarSpec(
        id="",
        name="Default business hours",
        zone=zone,
        shifts=(WeeklyShift((1, 2, 3, 4, 5), time(9), time(17)),),
    )


def default_policy() -> PolicySpec:
    """Alga PSA's ITIL preset: P1 15/60 min 24x7; P2-P5 in business time."""
    return PolicySpec(
        id="",
        name="Default (ITIL preset)",
        scope=ScopeKind.TENANT_DEFAULT,
        targets=tuple(
            Targets(p, Target(fr * MINUTE, business), Target(res * MINUTE, business))
            for p, fr, res, business in _PRESET
        ),
    )


def select_policy(
    policies: Iterable[PolicySpec], *, client_id: str, queue: str
) -> PolicySpec | None:
    """The policy in force for a ticket: client > queue > tenant default."""
    by_kind: dict[ScopeKind, PolicySpec] = {}
    for policy in policies:
        if (
            (policy.scope is ScopeKind.CLIENT and client_id and policy.client_id == client_id)
            or (policy.scope is ScopeKind.QUEUE and queue and policy.queue == queue)
            or policy.scope is ScopeKind.TENANT_DEFAULT
        ):
            by_kind.setdefault(policy.scope, policy)
    for kind in (ScopeKind.CLIENT, ScopeKind.QUEUE, ScopeKind.TENANT_DEFAULT):
        if kind in by_kind:
            return by_kind[kind]
    return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The policy and calendar a ticket's clocks were started with."""

    policy: PolicySpec
    calendar: CalendarSpec
    _business: list[BusinessCalendar] = field(default_factory=list, compare=False, repr=False)

    @property
    def business(self) -> BusinessCalendar:
        """The calendar for business-time math (built once)."""
        if not self._business:
            self._business.append(self.calendar.business_calendar())
        return self._business[0]
