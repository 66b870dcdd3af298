"""Property tests: the calendar against the brute-force oracle, and algebraic laws."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.domain.calendar import BusinessCalendar, Closure, HolidaySet, Shift
from tests.unit.sla.oracle import Oracle

ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
    "America/Santiago",
)
HOLIDAY_SETS = (
    HolidaySet("US"),
    HolidaySet("US", "NY"),
    HolidaySet("GB", "ENG"),
    HolidaySet("US", None, ("public", "unofficial")),
    HolidaySet("NL", None, ("optional",)),
)
WINDOW_DAYS = 4
WINDOW_MINUTES = WINDOW_DAYS * 24 * 60
NEAR_TRANSITIONS = (0, 30, 60, 90, 120, 135, 150, 180, 1380, 1410)

settings.register_profile("sla", max_examples=200, deadline=None, derandomize=True)
SLA = settings.get_profile("sla")


def _transition_days(zone: str) -> list[date]:
    tz = ZoneInfo(zone)
    days = []
    day = date(2025, 1, 1)
    while day < date(2027, 1, 1):
        today = datetime.combine(day, time(12), tz).utcoffset()
        tomorrow = datetime.combine(day + timedelta(days=1), time(12), tz).utcoffset()
        if today != tomorrow:
            days.append(day + timedelta(days=1))
        day += timedelta(days=1)
    return days


TRANSITIONS = {zone: _transition_days(zone) for zone in ZONES}
HOLIDAY_ANCHORS = [
    date(2025, 7, 4),
    date(2026, 7, 3),
    date(2025, 12, 25),
    date(2026, 8, 31),
    date(2026, 3, 17),
    date(2026, 5, 5),
]

minute_of_day = st.one_of(st.integers(0, 24 * 60 - 1), st.sampled_from(NEAR_TRANSITIONS))


def _time(minute: int) -> time:
    return time(minute // 60, minute % 60)


shifts = st.builds(lambda a, b: Shift(_time(a), _time(b)), minute_of_day, minute_of_day)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime]:
    """A random calendar and the local-noon origin of a window around an anchor date."""
    zone = draw(st.sampled_from(ZONES))
    anchor = draw(
        st.one_of(
            st.sampled_from(TRANSITIONS[zone] or [date(2026, 3, 8)]),
            st.sampled_from(HOLIDAY_ANCHORS),
            st.dates(date(2025, 1, 1), date(2026, 12, 31)),
        )
    )
    window_days = [anchor + timedelta(days=k) for k in range(-3, 4)]
    week = [tuple(draw(st.lists(shifts, max_size=3))) for _ in range(7)]
    if draw(st.booleans()):
        near = st.sampled_from(NEAR_TRANSITIONS).map(_time)
        week[anchor.weekday()] += (Shift(draw(near), draw(near)),)
    one_off = draw(st.frozensets(st.sampled_from(window_days), max_size=2))
    yearly = draw(
        st.frozensets(st.sampled_from([(d.month, d.day) for d in window_days]), max_size=1)
    )
    sets = tuple(draw(st.lists(st.sampled_from(HOLIDAY_SETS), max_size=1, unique=True)))
    closures = tuple(
        draw(
            st.lists(
                st.builds(
                    lambda d, a, b: Closure(d, _time(a), _time(b)),
                    st.sampled_from(window_days),
                    minute_of_day,
                    minute_of_day,
                ),
                max_size=2,
            )
        )
    )
    calendar = BusinessCalendar(zone, tuple(week), one_off, yearly, sets, closures)
    origin = datetime.combine(anchor - timedelta(days=2), time(12), ZoneInfo(zone))
    return calendar, origin.astimezone(UTC)


@SLA
@given(
    scenario=scenarios(),
    indices=st.lists(st.integers(0, WINDOW_MINUTES - 1), min_size=4, max_size=4),
    minutes=st.lists(
        st.one_of(st.integers(0, 600), st.integers(0, WINDOW_MINUTES)), min_size=2, max_size=2
    ),
)
def test_operations_match_oracle(
    scenario: tuple[BusinessCalendar, datetime], indices: list[int], minutes: list[int]
) -> None:
    calendar, origin = scenario
    oracle = Oracle.build(calendar, origin, WINDOW_MINUTES)
    has_shifts = any(calendar.week)

    assert calendar.open_intervals(origin, oracle.end) == oracle.intervals()

    for i, j in itertools.pairwise(indices):
        got = calendar.business_time_between(oracle.instant(i), oracle.instant(j))
        assert got == oracle.between(i, j)

    for i in indices:
        assert calendar.is_open(oracle.instant(i)) is oracle.open[i]
        expected_open = oracle.next_open(i)
        if not has_shifts:
            with pytest.raises(ValueError, match="no shifts"):
                calendar.next_open_instant(oracle.instant(i))
        elif expected_open is not None:
            assert calendar.next_open_instant(oracle.instant(i)) == expected_open
        else:
            assert calendar.next_open_instant(oracle.instant(i)) >= oracle.end

    for i, count in zip(indices, minutes, strict=False):
        expected = oracle.add(i, count)
        duration = timedelta(minutes=count)
        if not has_shifts and count > 0:
            with pytest.raises(ValueError, match="no shifts"):
                calendar.add_business_time(oracle.instant(i), duration)
        elif expected is not None:
            assert calendar.add_business_time(oracle.instant(i), duration) == expected
        else:
            assert calendar.add_business_time(oracle.instant(i), duration) >= oracle.end


instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.just(UTC),
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """A random calendar with at least one shift (so every search terminates)."""
    zone = draw(st.sampled_from(ZONES))
    week = [tuple(draw(st.lists(shifts, max_size=3))) for _ in range(7)]
    if not any(week):
        week[draw(st.integers(0, 6))] = (draw(shifts),)
    yearly = draw(st.frozensets(st.tuples(st.integers(1, 12), st.integers(1, 28)), max_size=3))
    sets = tuple(draw(st.lists(st.sampled_from(HOLIDAY_SETS), max_size=1, unique=True)))
    return BusinessCalendar(zone, tuple(week), frozenset(), yearly, sets)


@SLA
@given(calendar=calendars(), start=instants, duration=durations)
def test_between_inverts_add(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    end = calendar.add_business_time(start, duration)
    assert end >= start
    assert calendar.business_time_between(start, end) == duration
    if duration:
        assert calendar.business_time_between(start, end - timedelta(microseconds=1)) < duration


offsets = st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30))


@SLA
@given(calendar=calendars(), base=instants, steps=st.lists(offsets, min_size=2, max_size=2))
def test_between_is_additive_and_signed(
    calendar: BusinessCalendar, base: datetime, steps: list[timedelta]
) -> None:
    a, b, c = base, base + steps[0], base + steps[1]
    between = calendar.business_time_between
    assert between(a, b) + between(b, c) == between(a, c)
    assert between(b, a) == -between(a, b)
    assert between(a, a) == timedelta(0)


@SLA
@given(calendar=calendars(), start=instants, first=durations, second=durations)
def test_add_is_monotone_and_composes(
    calendar: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    add = calendar.add_business_time
    shorter, longer = sorted((first, second))
    assert add(start, shorter) <= add(start, longer)
    assert add(add(start, first), second) == add(start, first + second)
