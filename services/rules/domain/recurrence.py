"""RRULE parts for maintenance windows: parsed with limits, expanded with bounded work.

dateutil expands a rule forward from its DTSTART, and when the BY* parts leave a period
empty it keeps stepping periods without yielding until the year 9999: seconds of CPU for
`FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30`, forever for `INTERVAL=0`. So here every rule is
checked part by part (ranges, INTERVAL >= 1, at most hourly), made explicit (the BY*
defaults dateutil would derive from DTSTART are written out, so moving DTSTART to a later
period start does not change the occurrences), and every expansion:

- starts at the aligned period start just before the span asked for, not at DTSTART;
- stops at the span's end (UNTIL = the end, so the first later candidate ends it);
- carries a budget of calendar months that dateutil's own stepping spends, so a stretch
  with no occurrence costs at most the months in the span, and a cap on occurrences.

COUNT is turned into UNTIL once, at compile time, so COUNT rules expand like the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MONTHLY, WEEKLY, YEARLY, rrule, weekdays

FREQUENCIES: Final = {
    "YEARLY": YEARLY,
    "MONTHLY": MONTHLY,
    "WEEKLY": WEEKLY,
    "DAILY": DAILY,
    "HOURLY": HOURLY,
}
# One period of INTERVAL units spans at most about ten years.
MAX_INTERVAL: Final = {YEARLY: 10, MONTHLY: 120, WEEKLY: 521, DAILY: 3653, HOURLY: 87_672}
MAX_COUNT: Final = 10_000
# Occurrences one expansion may produce before it stops (a span's worth, never a history).
MAX_OCCURRENCES: Final = MAX_COUNT
# How far from DTSTART the first occurrence, and from any instant the next one, is sought.
HORIZON_YEARS: Final = 11
# Extra dateutil steps beyond a span's months (its first step and the one past the end).
_SPARE_MONTHS: Final = 3
_DAY_CODES: Final = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_BYDAY: Final = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL: Final = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
# name -> (dateutil keyword, lowest, highest, whether negative values count from the end)
_INT_PARTS: Final = {
    "BYMONTH": ("bymonth", 1, 12, False),
    "BYWEEKNO": ("byweekno", 1, 53, True),
    "BYYEARDAY": ("byyearday", 1, 366, True),
    "BYMONTHDAY": ("bymonthday", 1, 31, True),
    "BYHOUR": ("byhour", 0, 23, False),
    "BYMINUTE": ("byminute", 0, 59, False),
    "BYSECOND": ("bysecond", 0, 59, False),
    "BYSETPOS": ("bysetpos", 1, 366, True),
}
_KNOWN: Final = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY", *_INT_PARTS})


class RecurrenceError(ValueError):
    """An RRULE that is malformed, outside the limits, or never produces an occurrence."""


class OutOfSteps(Exception):
    """dateutil stepped through more months than the expansion allowed."""


class MeteredRRule(rrule):  # type: ignore[misc]
    """A dateutil rrule whose expansion may step through at most `months_left` months.

    dateutil's `_iterinfo.rebuild` reads `_byeaster` each time expansion enters a new
    month (a new year for YEARLY), including months that produce nothing; that read is
    the one place its stepping can be metered without copying its iterator.
    """

    def __init__(self, months: int, **kwargs: Any) -> None:
        self._months_left = -1  # not metered while dateutil builds the rule
        super().__init__(**kwargs)
        self._months_left = months

    @property
    def _byeaster(self) -> None:
        if self._months_left >= 0:
            if self._months_left == 0:
                raise OutOfSteps
            self._months_left -= 1
        return None

    @_byeaster.setter
    def _byeaster(self, value: object) -> None:
        if value:
            raise RecurrenceError("BYEASTER is not supported")


def _ints(name: str, value: str) -> tuple[int, ...]:
    _, lo, hi, signed = _INT_PARTS[name]
    out: list[int] = []
    for item in value.split(","):
        try:
            number = int(item)
        except ValueError:
            raise RecurrenceError(f"{name} has a value that is not a number: {item!r}") from None
        if not (lo <= number <= hi or (signed and -hi <= number <= -lo)):
            span = f"{lo}..{hi}" + (f" or -{hi}..-{lo}" if signed else "")
            raise RecurrenceError(f"{name} values must be in {span}, not {number}")
        out.append(number)
    return tuple(sorted(set(out)))


def _byday(value: str) -> tuple[Any, ...]:
    out = []
    for item in value.split(","):
        m = _BYDAY.match(item.strip().upper())
        if m is None:
            raise RecurrenceError(f"BYDAY has an invalid day {item!r} (e.g. MO, 2TU, -1FR)")
        nth = None if m.group(1) is None else int(m.group(1))
        if nth is not None and not 1 <= abs(nth) <= 53:
            raise RecurrenceError(f"BYDAY ordinals must be in 1..53 or -53..-1, not {nth}")
        day = weekdays[_DAY_CODES[m.group(2)]]
        out.append(day if nth is None else day(nth))
    return tuple(out)


def _until(value: str, zone: ZoneInfo) -> datetime:
    m = _UNTIL.match(value.strip().upper())
    if m is None:
        raise RecurrenceError(f"UNTIL must look like 20261231T235959Z, not {value!r}")
    try:
        at = datetime.strptime(m.group(1) + (m.group(2) or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        raise RecurrenceError(f"UNTIL is not a valid date and time: {value!r}") from None
    if m.group(3):
        # DTSTART is floating wall time here, so RFC 5545 wants UNTIL floating too.
        return at.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    return at


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for raw in text.strip().split(";"):
        if not raw.strip():
            continue
        name, sep, value = raw.partition("=")
        name = name.strip().upper()
        if not sep or not value.strip():
            raise RecurrenceError(f"{raw.strip()!r} is not NAME=VALUE")
        if name not in _KNOWN:
            raise RecurrenceError(f"{name} is not supported; use {', '.join(sorted(_KNOWN))}")
        if name in parts:
            raise RecurrenceError(f"{name} is given twice")
        parts[name] = value.strip()
    return parts


def _number(parts: dict[str, str], name: str, lo: int, hi: int) -> int | None:
    if name not in parts:
        return None
    try:
        value = int(parts[name])
    except ValueError:
        raise RecurrenceError(f"{name} must be a whole number, not {parts[name]!r}") from None
    if not lo <= value <= hi:
        raise RecurrenceError(f"{name} must be in {lo}..{hi}, not {value}")
    return value


def _explicit(freq: int, dtstart: datetime, by: dict[str, Any]) -> dict[str, Any]:
    """The BY* parts with the defaults dateutil (RFC 5545) derives from DTSTART written out."""
    by = dict(by)
    if not any(k in by for k in ("byweekno", "byyearday", "bymonthday", "byweekday")):
        if freq == YEARLY:
            by.setdefault("bymonth", (dtstart.month,))
            by["bymonthday"] = (dtstart.day,)
        elif freq == MONTHLY:
            by["bymonthday"] = (dtstart.day,)
        elif freq == WEEKLY:
            by["byweekday"] = (weekdays[dtstart.weekday()],)
    if freq != HOURLY:
        by.setdefault("byhour", (dtstart.hour,))
    by.setdefault("byminute", (dtstart.minute,))
    by.setdefault("bysecond", (dtstart.second,))
    return by


def _steps(freq: int, lo: datetime, hi: datetime) -> int:
    """dateutil steps (new months; new years for YEARLY) an expansion over [lo, hi] needs."""
    if freq == YEARLY:
        return max(0, hi.year - lo.year) + _SPARE_MONTHS
    return max(0, (hi.year - lo.year) * 12 + hi.month - lo.month) + _SPARE_MONTHS


def _years_after(at: datetime, years: int) -> datetime:
    return at.replace(year=min(at.year + years, 9999), day=1)


class BoundedRule:
    """A validated recurrence in naive wall time whose expansions do bounded work."""

    __slots__ = ("_kwargs", "dtstart", "freq", "interval", "until", "wkst")

    def __init__(self, text: str, dtstart: datetime, zone: ZoneInfo) -> None:
        """Parse one RRULE value (without `RRULE:`); raises RecurrenceError."""
        parts = _parts(text)
        name = parts.get("FREQ", "").upper()
        if not name:
            raise RecurrenceError("FREQ is required")
        if name in ("MINUTELY", "SECONDLY"):
            raise RecurrenceError("windows may recur at most hourly")
        if name not in FREQUENCIES:
            raise RecurrenceError(f"FREQ must be one of {', '.join(FREQUENCIES)}, not {name!r}")
        freq = FREQUENCIES[name]
        interval = _number(parts, "INTERVAL", 1, MAX_INTERVAL[freq])
        count = _number(parts, "COUNT", 1, MAX_COUNT)
        if count is not None and "UNTIL" in parts:
            raise RecurrenceError("use COUNT or UNTIL, not both")
        wkst = parts.get("WKST", "MO").upper()
        if wkst not in _DAY_CODES:
            raise RecurrenceError(f"WKST must be a day code (MO..SU), not {wkst!r}")
        by: dict[str, Any] = {}
        for part, (keyword, *_) in _INT_PARTS.items():
            if part in parts:
                by[keyword] = _ints(part, parts[part])
        if "BYDAY" in parts:
            by["byweekday"] = _byday(parts["BYDAY"])
        self.dtstart = dtstart.replace(microsecond=0)
        self.freq = freq
        self.interval = interval or 1
        self.wkst = _DAY_CODES[wkst]
        self.until = None if "UNTIL" not in parts else _until(parts["UNTIL"], zone)
        self._kwargs: dict[str, Any] = {
            "freq": freq,
            "interval": self.interval,
            "wkst": self.wkst,
            **_explicit(freq, self.dtstart, by),
        }
        horizon = _years_after(self.dtstart, HORIZON_YEARS)
        if count is not None:
            found = self._expand(self.dtstart, horizon, count=count)
            if len(found) < count:
                raise RecurrenceError(
                    f"its {count} occurrences do not all fall within {HORIZON_YEARS} years"
                    " of the start; use a smaller COUNT or UNTIL"
                )
            self.until = found[-1]
        if self.first_at_or_after(self.dtstart, horizon) is None:
            where = " before UNTIL" if self.until is not None else ""
            raise RecurrenceError(
                f"the rule produces no occurrence{where} within {HORIZON_YEARS} years of its "
                "start; check INTERVAL and the BY* parts"
            )

    def _anchor(self, at: datetime) -> datetime:
        """The latest period start at or before `at` that keeps the rule's alignment."""
        d, k = self.dtstart, self.interval
        if at <= d:
            return d
        if self.freq == YEARLY:
            n = (at.year - d.year) // k * k
            return d if n == 0 else datetime(d.year + n, 1, 1)
        if self.freq == MONTHLY:
            n = ((at.year - d.year) * 12 + at.month - d.month) // k * k
            year, month = divmod(d.year * 12 + d.month - 1 + n, 12)
            return d if n == 0 else datetime(year, month + 1, 1)
        if self.freq == HOURLY:
            first = d.replace(minute=0, second=0)
            n = (at - first) // timedelta(hours=1) // k * k
            return d if n == 0 else first + timedelta(hours=n)
        days = k * 7 if self.freq == WEEKLY else k
        first_day = d.date()
        if self.freq == WEEKLY:
            first_day -= timedelta(days=(d.weekday() - self.wkst) % 7)
        n = (at.date() - first_day).days // days * days
        return d if n == 0 else datetime.combine(first_day + timedelta(days=n), time())

    def _expand(self, lo: datetime, hi: datetime, *, count: int | None = None) -> list[datetime]:
        """Occurrences in [lo, hi] in order, at most MAX_OCCURRENCES; bounded work."""
        if count is None:
            start = self._anchor(lo)
            until = hi if self.until is None else min(hi, self.until)
            if until < start:
                return []
            bounds: dict[str, Any] = {"dtstart": start, "until": until}
        else:
            start = lo
            bounds = {"dtstart": lo, "count": count}
        try:
            rule = MeteredRRule(_steps(self.freq, start, hi), **bounds, **self._kwargs)
        except ValueError as exc:
            # dateutil refuses e.g. HOURLY;INTERVAL=2;BYHOUR=3 from an even hour: never occurs.
            raise RecurrenceError(f"invalid RRULE: {exc}") from None
        found: list[datetime] = []
        iterator: Iterator[datetime] = iter(rule)
        try:
            for at in iterator:
                if at > hi:
                    break
                if at >= lo:
                    found.append(at)
                    if len(found) >= MAX_OCCURRENCES:
                        break
        except OutOfSteps:
            pass
        return found

    def between(self, lo: datetime, hi: datetime) -> list[datetime]:
        """Occurrences (naive wall time) in [lo, hi], in order."""
        return self._expand(lo, hi) if lo <= hi else []

    def first_at_or_after(self, at: datetime, limit: datetime) -> datetime | None:
        """The first occurrence in [at, limit], searched in growing steps; None if none."""
        step = self.period()
        lo = at
        while lo <= limit:
            hi = min(limit, lo + step)
            found = self._expand(lo, hi)
            if found:
                return found[0]
            lo = hi + timedelta(seconds=1)
            step *= 2
        return None

    def period(self) -> timedelta:
        """About one INTERVAL of the rule (at least a day): the first search step."""
        unit = {
            YEARLY: timedelta(days=366),
            MONTHLY: timedelta(days=31),
            WEEKLY: timedelta(days=7),
            DAILY: timedelta(days=1),
            HOURLY: timedelta(hours=1),
        }[self.freq]
        return max(timedelta(days=1), unit * self.interval)
