"""Quiet hours of a channel, evaluated on the wall clock of an IANA time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notify.domain.model import Severity


def wall_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first UTC instant at which the wall clock in `zone` shows `day` `at` or later.

    Ambiguous times (clocks turned back) resolve to the first occurrence; times that
    do not exist (clocks turned forward) resolve to the instant of the jump.
    """
    naive = datetime.combine(day, at)
    early = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    candidate = min(early, late)
    if candidate.astimezone(zone).replace(tzinfo=None) == naive:
        return candidate
    low, high = min(early, late), max(early, late)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window [start, end) in `zone`; it crosses midnight when end <= start.

    `weekdays` (Monday = 0) restricts the days on which a window begins; None means
    every day. Messages of `bypass_severity` or above are never held, and critical
    ones never are whatever the setting.
    """

    start: time
    end: time
    zone: str
    weekdays: frozenset[int] | None = None
    bypass_severity: int = Severity.CRITICAL

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours need start != end")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are wall times without tzinfo")
        ZoneInfo(self.zone)
        if self.weekdays is not None and not self.weekdays <= frozenset(range(7)):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        if not 1 <= self.bypass_severity <= Severity.CRITICAL:
            raise ValueError("bypass_severity must be 1..5")

    def _starts_on(self, day: date) -> bool:
        return self.weekdays is None or day.weekday() in self.weekdays

    def release_time(self, at: datetime, severity: int) -> datetime | None:
        """When a message of `severity` produced at `at` may go out, or None for now."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if severity >= min(self.bypass_severity, Severity.CRITICAL):
            return None
        zone = ZoneInfo(self.zone)
        local = at.astimezone(zone)
        today = local.date()
        wall = local.time().replace(tzinfo=None)
        if self.start < self.end:
            if self.start <= wall < self.end and self._starts_on(today):
                return wall_to_utc(today, self.end, zone)
            return None
        if wall >= self.start and self._starts_on(today):
            return wall_to_utc(today + timedelta(days=1), self.end, zone)
        if wall < self.end and self._starts_on(today - timedelta(days=1)):
            return wall_to_utc(today, self.end, zone)
        return None
