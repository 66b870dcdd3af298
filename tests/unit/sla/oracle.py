"""A brute-force oracle for business calendars, independent of the implementation.

It decides openness minute by minute from local wall-clock readings alone. A wall time
boundary is crossed once the local clock has *ever* shown it, so the oracle tracks the
highest wall reading seen so far ("high water"); that is the module's DST rule restated
without any instant arithmetic. Schedules must use whole minutes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from services.sla.domain.calendar import BusinessCalendar

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@functools.cache
def _country_dates(
    country: str, subdivision: str | None, categories: tuple[str, ...], year: int
) -> frozenset[date]:
    found: set[date] = set()
    for category in categories or ("public",):
        found.update(
            holidays_lib.country_holidays(
                country, subdiv=subdivision, years=year, categories=(category,)
            )
        )
    return frozenset(found)


def _is_holiday(calendar: BusinessCalendar, day: date) -> bool:
    return (
        day in calendar.one_off_holidays
        or (day.month, day.day) in calendar.yearly_holidays
        or any(
            day in _country_dates(h.country, h.subdivision, h.categories, day.year)
            for h in calendar.holiday_sets
        )
    )


def _span(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    return datetime.combine(day, start), datetime.combine(day + DAY if end <= start else day, end)


def wall_open(calendar: BusinessCalendar, wall: datetime) -> bool:
    """Whether the naive local wall time lies in the calendar's open set."""
    day = wall.date()
    if _is_holiday(calendar, day):
        return False
    in_shift = any(
        lo <= wall < hi
        for d in (day - DAY, day)
        for lo, hi in (_span(d, s.start, s.end) for s in calendar.week[d.weekday()])
    )
    if not in_shift:
        return False
    return not any(
        lo <= wall < hi for lo, hi in (_span(c.day, c.start, c.end) for c in calendar.closures)
    )


@dataclass(frozen=True)
class Oracle:
    """Open minutes ``[origin + i min, origin + (i+1) min)`` for i in range(len(open))."""

    origin: datetime
    open: tuple[bool, ...]

    @classmethod
    def build(cls, calendar: BusinessCalendar, origin: datetime, minutes: int) -> Oracle:
        """Sample ``minutes`` minutes from ``origin`` (which must not be in a repeated hour)."""
        tz = ZoneInfo(calendar.zone)
        high: datetime | None = None
        flags = []
        for i in range(minutes):
            wall = (origin + i * MINUTE).astimezone(tz).replace(tzinfo=None)
            high = wall if high is None or wall > high else high
            flags.append(wall_open(calendar, high))
        return cls(origin.astimezone(UTC), tuple(flags))

    @property
    def end(self) -> datetime:
        """The first instant after the sampled range."""
        return self.origin + len(self.open) * MINUTE

    def instant(self, index: int) -> datetime:
        """The start of minute ``index``."""
        return self.origin + index * MINUTE

    def between(self, i: int, j: int) -> timedelta:
        """Signed open time between minute starts ``i`` and ``j``."""
        if j < i:
            return -self.between(j, i)
        return sum(self.open[i:j]) * MINUTE

    def add(self, i: int, minutes: int) -> datetime | None:
        """The end of the ``minutes``-th open minute from ``i``; None past the range."""
        if minutes == 0:
            return self.instant(i)
        seen = 0
        for k in range(i, len(self.open)):
            if self.open[k]:
                seen += 1
                if seen == minutes:
                    return self.instant(k + 1)
        return None

    def next_open(self, i: int) -> datetime | None:
        """The start of the first open minute at or after ``i``; None past the range."""
        for k in range(i, len(self.open)):
            if self.open[k]:
                return self.instant(k)
        return None

    def intervals(self) -> list[tuple[datetime, datetime]]:
        """The open minutes merged into intervals."""
        result: list[tuple[datetime, datetime]] = []
        for k, flag in enumerate(self.open):
            if not flag:
                continue
            if result and result[-1][1] == self.instant(k):
                result[-1] = (result[-1][0], self.instant(k + 1))
            else:
                result.append((self.instant(k), self.instant(k + 1)))
        return result
