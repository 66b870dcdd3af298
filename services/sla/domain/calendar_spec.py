"""Business-hours calendars as plain values: validation, JSON snapshots, the default one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.sla.domain.calendar import (
    BusinessCalendar,
    Closure,
    HolidaySet,
    Shift,
    holiday_categories,
    unknown_categories,
)
from services.sla.domain.violation import Violation

__all__ = [
    "CalendarSpec",
    "HolidayRule",
    "HolidaySetRule",
    "WeeklyShift",
    "default_calendar",
]

YEARLY_CLOSURE_YEARS = 12
"""Yearly partial-day closures are expanded to concrete dates this many years ahead."""


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
    """A country/subdivision set of the ``holidays`` library; ``categories`` select the
    library's holiday categories (empty: ``public``)."""

    country: str
    subdivision: str = ""
    categories: tuple[str, ...] = ()

    def holiday_set(self) -> HolidaySet:
        """The set as the calendar math takes it.

        Categories the country does not offer are left out: the API refuses them, but a
        calendar stored before they were checked must still compute rather than fail.
        """
        subdivision = self.subdivision or None
        try:
            offered = holiday_categories(self.country, subdivision)
        except ValueError:
            return HolidaySet(self.country, subdivision, self.categories)
        kept = tuple(c for c in HolidaySet("", None, self.categories).categories if c in offered)
        return HolidaySet(self.country, subdivision, kept)


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
        for i, rule in enumerate(self.holiday_sets):
            bad.extend(_holiday_set_violations(rule, f"{prefix}.holiday_sets[{i}]"))
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
            holiday_sets=[h.holiday_set() for h in self.holiday_sets],
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


def _holiday_set_violations(rule: HolidaySetRule, prefix: str) -> list[Violation]:
    holiday_set = HolidaySet(rule.country, rule.subdivision or None, rule.categories)
    try:
        unknown = unknown_categories(holiday_set)
    except ValueError as exc:
        return [Violation(prefix, str(exc))]
    if not unknown:
        return []
    offered = holiday_categories(holiday_set.country, holiday_set.subdivision)
    where = "-".join(p for p in (rule.country, rule.subdivision) if p)
    return [
        Violation(
            f"{prefix}.categories",
            f"{where} has no holiday category {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(offered)}",
        )
    ]


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


def default_calendar(zone: str) -> CalendarSpec:
    """Monday to Friday 09:00-17:00 in ``zone``: the calendar of the default policy."""
    return CalendarSpec(
        id="",
        name="Default business hours",
        zone=zone,
        shifts=(WeeklyShift((1, 2, 3, 4, 5), time(9), time(17)),),
    )
