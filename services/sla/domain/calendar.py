"""Business-hours calendars: exact business-time arithmetic in an IANA time zone.

The open time of a calendar is a set of real instants::

    open = shift instances - holiday dates - closures

* A shift is a local start and end time on a weekday. ``end <= start`` means the shift
  ends on the next local day; ``end == start`` is a 24-hour shift. ``always()`` is 24x7.
* A local wall time becomes an instant as the first instant at which the local clock
  reads that time (or later): inside a DST gap that is the end of the gap, inside a DST
  overlap it is the first occurrence. Durations are real elapsed time, so a shift that
  spans a fall-back hour holds the extra hour and one that spans a spring-forward gap is
  shorter by it.
* A holiday closes its whole local date, from its midnight to the next midnight. An
  overnight shift that starts the day before a holiday closes at the holiday's midnight;
  one that starts on a holiday still opens for its part on the following ordinary date.
* Holidays are one-off dates, yearly fixed month/day dates (29 February only in leap
  years) and country/subdivision sets of the ``holidays`` library with their observed
  days, resolved per year on first use and cached. A set closes the days of the library
  categories it names (``public``, ``optional``, ``bank``, ``government``... as the
  country offers them); none named means the library's default, ``public``.
* A closure closes a local date from a local start to a local end time (same
  midnight-crossing rule as shifts).

Intervals are half-open ``[start, end)``. Results are aware UTC datetimes, exact to the
microsecond. Work is done day by day in the calendar's zone, so every operation costs
O(local days spanned); nothing steps through minutes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = [
    "HORIZON_DAYS",
    "BusinessCalendar",
    "Closure",
    "HolidaySet",
    "Interval",
    "Shift",
    "holiday_categories",
    "unknown_categories",
]

Interval = tuple[datetime, datetime]

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)
MIDNIGHT = time(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HORIZON_DAYS = 5 * 366
"""Consecutive closed days after which a search for open time gives up."""


def _plain_time(value: time, what: str) -> time:
    if value.tzinfo is not None:
        raise ValueError(f"{what} must be a naive local time, got {value!r}")
    return value.replace(fold=0)


def _parse_time(text: str) -> time:
    return time.fromisoformat(text.strip())


@dataclass(frozen=True, slots=True)
class Shift:
    """Opening hours on one weekday; ``end <= start`` continues into the next day."""

    start: time
    end: time

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _plain_time(self.start, "shift start"))
        object.__setattr__(self, "end", _plain_time(self.end, "shift end"))

    @property
    def overnight(self) -> bool:
        """Whether the shift ends on the next local day."""
        return self.end <= self.start

    @classmethod
    def parse(cls, text: str) -> Shift:
        """Build a shift from ``"HH:MM-HH:MM"`` (seconds allowed)."""
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"shift must look like 09:00-17:00, got {text!r}")
        return cls(_parse_time(start), _parse_time(end))


@dataclass(frozen=True, slots=True)
class Closure:
    """A partial-day closure: ``day`` from local ``start`` to local ``end``."""

    day: date
    start: time
    end: time

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _plain_time(self.start, "closure start"))
        object.__setattr__(self, "end", _plain_time(self.end, "closure end"))

    @property
    def overnight(self) -> bool:
        """Whether the closure ends on the next local day."""
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class HolidaySet:
    """A country (ISO 3166-1 alpha-2) and optional subdivision of the holidays library.

    ``categories`` are library categories (lower case, sorted, unique once built); empty
    means the library's default (``public``). Naming any replaces the default, so
    ``("optional", "public")`` is needed for both.
    """

    country: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        normal = tuple(sorted({c.strip().lower() for c in self.categories}))
        object.__setattr__(self, "categories", normal)


@functools.lru_cache(maxsize=1024)
def holiday_categories(country: str, subdivision: str | None = None) -> tuple[str, ...]:
    """The holiday categories the library offers for a country/subdivision, sorted.

    Raises ValueError for a country or subdivision the library does not know.
    """
    try:
        found = holidays_lib.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from exc
    return tuple(sorted(found.supported_categories))


def unknown_categories(holiday_set: HolidaySet) -> tuple[str, ...]:
    """The categories of ``holiday_set`` its country does not offer (ValueError: no such
    country or subdivision)."""
    offered = holiday_categories(holiday_set.country, holiday_set.subdivision)
    return tuple(c for c in holiday_set.categories if c not in offered)


@functools.lru_cache(maxsize=4096)
def _holiday_set_dates(
    country: str, subdivision: str | None, categories: tuple[str, ...], year: int
) -> frozenset[date]:
    return frozenset(
        holidays_lib.country_holidays(
            country, subdiv=subdivision, years=year, categories=categories or None
        )
    )


def _utc(value: datetime, what: str = "instant") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _clip_merge(spans: Iterable[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    clipped = sorted((max(s, lo), min(e, hi)) for s, e in spans)
    merged: list[Interval] = []
    for s, e in clipped:
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _subtract(opened: list[Interval], closed: list[Interval]) -> list[Interval]:
    result: list[Interval] = []
    for s, e in opened:
        cursor = s
        for cs, ce in closed:
            if ce <= cursor or cs >= e:
                continue
            if cs > cursor:
                result.append((cursor, cs))
            cursor = max(cursor, ce)
            if cursor >= e:
                break
        if cursor < e:
            result.append((cursor, e))
    return result


# Every clock of every ticket converts the same few (zone, day, shift edge) triples: the
# zone arithmetic dominated the sla consumer's profile before this cache.
@functools.lru_cache(maxsize=65_536)
def _local_instant(tz: ZoneInfo, day: date, wall: time) -> datetime:
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    return _gap_end(tz, naive)


def _gap_end(tz: ZoneInfo, naive: datetime) -> datetime:
    """The transition instant ending the DST gap that swallows ``naive``."""
    # fold=1 applies the post-transition offset, landing before the transition;
    # fold=0 applies the pre-transition one, landing after it.
    before = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = timedelta(seconds=1)
    lo = (before - EPOCH) // second
    hi = -((EPOCH - after) // second)
    while lo < hi:
        mid = (lo + hi) // 2
        instant = EPOCH + timedelta(seconds=mid)
        if instant.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return EPOCH + timedelta(seconds=lo)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """An immutable business-hours calendar in one IANA zone (see the module docstring)."""

    zone: str
    week: tuple[tuple[Shift, ...], ...]
    """Seven entries, Monday first, each with any number of shifts."""
    one_off_holidays: frozenset[date] = frozenset()
    yearly_holidays: frozenset[tuple[int, int]] = frozenset()
    """(month, day) pairs closed every year."""
    holiday_sets: tuple[HolidaySet, ...] = ()
    closures: tuple[Closure, ...] = ()
    _tz: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _closures_by_day: dict[date, tuple[Closure, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _always: bool = field(init=False, repr=False, compare=False, hash=False)
    _has_shifts: bool = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            tz = ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.zone!r}") from exc
        week = tuple(tuple(day) for day in self.week)
        if len(week) != 7:
            raise ValueError(f"week needs 7 days (Monday first), got {len(week)}")
        for month, day in self.yearly_holidays:
            date(2000, month, day)  # raises ValueError for impossible dates
        for hs in self.holiday_sets:
            if unknown := unknown_categories(hs):
                offered = ", ".join(holiday_categories(hs.country, hs.subdivision))
                raise ValueError(
                    f"unknown holiday categories {', '.join(unknown)} for {hs.country}"
                    f"; offered: {offered}"
                )
        by_day: dict[date, list[Closure]] = {}
        for closure in self.closures:
            by_day.setdefault(closure.day, []).append(closure)
            if closure.overnight:
                by_day.setdefault(closure.day + ONE_DAY, []).append(closure)
        full_day = Shift(MIDNIGHT, MIDNIGHT)
        always = (
            all(full_day in day for day in week)
            and not self.one_off_holidays
            and not self.yearly_holidays
            and not self.holiday_sets
            and not self.closures
        )
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "one_off_holidays", frozenset(self.one_off_holidays))
        object.__setattr__(self, "yearly_holidays", frozenset(self.yearly_holidays))
        object.__setattr__(self, "holiday_sets", tuple(self.holiday_sets))
        object.__setattr__(self, "closures", tuple(self.closures))
        object.__setattr__(self, "_tz", tz)
        object.__setattr__(self, "_closures_by_day", {d: tuple(c) for d, c in by_day.items()})
        object.__setattr__(self, "_always", always)
        object.__setattr__(self, "_has_shifts", any(week))

    @classmethod
    def always(cls, zone: str = "UTC") -> BusinessCalendar:
        """A 24x7 calendar without holidays: business time equals real time."""
        return cls(zone, tuple((Shift(MIDNIGHT, MIDNIGHT),) for _ in range(7)))

    @classmethod
    def weekly(
        cls,
        zone: str,
        schedule: Mapping[int, Sequence[Shift | str]],
        *,
        one_off_holidays: Iterable[date] = (),
        yearly_holidays: Iterable[tuple[int, int]] = (),
        holiday_sets: Iterable[HolidaySet | tuple[str, str | None]] = (),
        closures: Iterable[Closure] = (),
    ) -> BusinessCalendar:
        """Build a calendar from {weekday (Monday=0): shifts}; shifts may be "09:00-17:00"."""
        if any(not 0 <= weekday <= 6 for weekday in schedule):
            raise ValueError("weekdays run from 0 (Monday) to 6 (Sunday)")
        week = tuple(
            tuple(Shift.parse(s) if isinstance(s, str) else s for s in schedule.get(i, ()))
            for i in range(7)
        )
        return cls(
            zone,
            week,
            frozenset(one_off_holidays),
            frozenset(yearly_holidays),
            tuple(h if isinstance(h, HolidaySet) else HolidaySet(*h) for h in holiday_sets),
            tuple(closures),
        )

    @property
    def tzinfo(self) -> ZoneInfo:
        """The calendar's zone."""
        return self._tz

    @property
    def is_always_open(self) -> bool:
        """Whether every instant is business time (24x7, nothing closed)."""
        return self._always

    def is_holiday(self, day: date) -> bool:
        """Whether the local ``day`` is closed as a holiday."""
        if day in self.one_off_holidays or (day.month, day.day) in self.yearly_holidays:
            return True
        return any(
            day in _holiday_set_dates(h.country, h.subdivision, h.categories, day.year)
            for h in self.holiday_sets
        )

    def local_instant(self, day: date, wall: time) -> datetime:
        """The first UTC instant at which the local clock reads ``wall`` on ``day`` or later."""
        return _local_instant(self._tz, day, wall)

    def _day_open(self, day: date, lo: datetime, hi: datetime) -> list[Interval]:
        if lo >= hi or self.is_holiday(day):
            return []
        prev = day - ONE_DAY
        at = self.local_instant
        spans = [
            (at(prev, s.start), at(day, s.end)) for s in self.week[prev.weekday()] if s.overnight
        ]
        spans.extend(
            (at(day, s.start), at(day + ONE_DAY if s.overnight else day, s.end))
            for s in self.week[day.weekday()]
        )
        opened = _clip_merge(spans, lo, hi)
        closures = self._closures_by_day.get(day)
        if opened and closures:
            closed = _clip_merge(
                (
                    (at(c.day, c.start), at(c.day + ONE_DAY if c.overnight else c.day, c.end))
                    for c in closures
                ),
                lo,
                hi,
            )
            opened = _subtract(opened, closed)
        return opened

    def _days(self, begin: datetime) -> Iterator[tuple[datetime, list[Interval]]]:
        """Yield (local midnight, open intervals of that local day) from ``begin``'s day on."""
        # The local date of an instant is never later than the day window holding it,
        # so starting there never skips time (even when midnight repeats in an overlap).
        day = begin.astimezone(self._tz).date()
        lo = self.local_instant(day, MIDNIGHT)
        while True:
            following = day + ONE_DAY
            hi = self.local_instant(following, MIDNIGHT)
            yield lo, self._day_open(day, lo, hi)
            day, lo = following, hi

    def _open_from(self, begin: datetime) -> Iterator[Interval]:
        """Open intervals at or after ``begin``, clipped to it; ValueError past the horizon."""
        if not self._has_shifts:
            raise ValueError("calendar has no shifts, so no business time ever elapses")
        closed_days = 0
        for _, intervals in self._days(begin):
            found = False
            for s, e in intervals:
                if e > begin:
                    found = True
                    yield max(s, begin), e
            closed_days = 0 if found else closed_days + 1
            if closed_days > HORIZON_DAYS:
                raise ValueError(
                    f"no business time within {HORIZON_DAYS} days after {begin.isoformat()}"
                )

    def open_intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """The merged open intervals within ``[start, end)``, as aware UTC datetimes."""
        lo, hi = _utc(start, "start"), _utc(end, "end")
        if hi <= lo:
            return []
        if self._always:
            return [(lo, hi)]
        spans: list[Interval] = []
        for midnight, intervals in self._days(lo):
            if midnight >= hi:
                break
            spans.extend(intervals)
        return _clip_merge(spans, lo, hi)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` is business time."""
        instant = _utc(at, "at")
        return self.business_time_between(instant, instant + timedelta(microseconds=1)) > ZERO

    def next_open_instant(self, at: datetime) -> datetime:
        """The first business instant at or after ``at`` (``at`` itself when open)."""
        instant = _utc(at, "at")
        if self._always:
            return instant
        for s, _ in self._open_from(instant):
            return s
        raise AssertionError("unreachable: _open_from never ends without raising")

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which ``duration`` of business time has elapsed after start.

        Counting begins at the next open instant when ``start`` is closed; a zero duration
        returns ``start`` itself. Raises ValueError for a negative duration or when the
        calendar has no business time within ``HORIZON_DAYS``.
        """
        begin = _utc(start, "start")
        if duration < ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        if duration == ZERO:
            return begin
        if self._always:
            return begin + duration
        remaining = duration
        for s, e in self._open_from(begin):
            available = e - s
            if remaining <= available:
                return s + remaining
            remaining -= available
        raise AssertionError("unreachable: _open_from never ends without raising")

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Business time in ``[a, b)``; signed: ``between(b, a) == -between(a, b)``."""
        lo, hi = _utc(a, "a"), _utc(b, "b")
        if hi < lo:
            return -self.business_time_between(hi, lo)
        if hi == lo or not self._has_shifts:
            return ZERO
        if self._always:
            return hi - lo
        total = ZERO
        for midnight, intervals in self._days(lo):
            if midnight >= hi:
                break
            for s, e in intervals:
                if e > lo and s < hi:
                    total += min(e, hi) - max(s, lo)
        return total
