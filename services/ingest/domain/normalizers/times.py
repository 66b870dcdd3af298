"""Parse every time format RMM tools send into aware UTC datetimes."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as date_parser

from .text import clean

# Seconds past 1e11 would be after the year 5000, so such numbers are milliseconds;
# likewise past 1e14 they are microseconds.
_MS_THRESHOLD = 1e11
_US_THRESHOLD = 1e14
_NUMERIC = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")
_MIN_YEAR = 1971
_MAX_YEAR = 9000
_UTC_NAMES = frozenset({"UTC", "GMT", "Z", "UT"})
# Missing date parts default to year 1, which the range check rejects.
_DEFAULT = datetime(1, 1, 1)


def zone(name: str | None) -> tzinfo:
    """The IANA zone `name`, or UTC when it is missing or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def localize(naive: datetime, time_zone: str | None) -> datetime:
    """Interpret a naive wall-clock time in `time_zone` and return it in UTC.

    fold=0 picks the first of two ambiguous instants (the DST one) and moves a time
    that falls in a spring-forward gap forward by the gap, as zoneinfo defines it.
    """
    return naive.replace(tzinfo=zone(time_zone), fold=0).astimezone(UTC)


def from_epoch(number: float) -> datetime | None:
    """Epoch seconds, or milliseconds/microseconds judged by magnitude, to UTC."""
    if not math.isfinite(number) or number <= 0:
        return None
    if number >= _US_THRESHOLD:
        number /= 1_000_000
    elif number >= _MS_THRESHOLD:
        number /= 1000
    try:
        return _in_range(datetime.fromtimestamp(number, UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _in_range(value: datetime) -> datetime | None:
    return value if _MIN_YEAR <= value.year <= _MAX_YEAR else None


def _tz_for(name: str | None, offset: int | None) -> tzinfo | None:
    if offset is not None:
        try:
            return timezone(timedelta(seconds=offset))
        except (ValueError, OverflowError):
            return None
    if name and name.upper() in _UTC_NAMES:
        return UTC
    return None


def _parse_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        parsed = date_parser.parse(text, default=_DEFAULT, tzinfos=_tz_for)
    except (ValueError, OverflowError, TypeError, LookupError):
        return None
    return parsed if isinstance(parsed, datetime) else None


def parse_time(value: object, time_zone: str | None = "UTC") -> datetime | None:
    """Any supported time representation to an aware UTC datetime, or None.

    Accepts epoch seconds (int/float, also as text), epoch milliseconds, ISO 8601
    (with `Z`), Python `str(datetime)`, and naive local times, which are read in
    `time_zone`. Unparseable or implausible values give None; never raises.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, int | float):
        try:
            return from_epoch(float(value))
        except OverflowError:
            return None
    else:
        text = clean(value)
        if text is None or len(text) > 64:
            return None
        if _NUMERIC.fullmatch(text):
            try:
                return from_epoch(float(text))
            except OverflowError:
                return None
        parsed = _parse_text(text)
    if parsed is None:
        return None
    try:
        if parsed.utcoffset() is None:
            return _in_range(localize(parsed, time_zone))
        return _in_range(parsed.astimezone(UTC))
    except (OverflowError, ValueError):
        return None
