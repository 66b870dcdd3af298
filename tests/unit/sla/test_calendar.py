"""Explicit business-calendar cases: DST in three zones, overnight shifts, holidays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.sla.domain.calendar import BusinessCalendar, Closure, HolidaySet, Shift

NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"
WEEKDAYS_9_17 = dict.fromkeys(range(5), ("09:00-17:00",))
SUNDAY = 6
H = timedelta(hours=1)


def local(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def day_total(calendar: BusinessCalendar, day: date) -> timedelta:
    tz = calendar.tzinfo
    start = datetime.combine(day, time(0), tz)
    return calendar.business_time_between(start, start + timedelta(days=2))


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (NY, date(2026, 3, 15), 6),
        (NY, date(2026, 3, 8), 5),
        (NY, date(2026, 11, 1), 7),
        (LONDON, date(2026, 3, 29), 5),
        (LONDON, date(2026, 10, 25), 7),
        (LORD_HOWE, date(2026, 10, 4), 5.5),
        (LORD_HOWE, date(2026, 4, 5), 6.5),
    ],
)
def test_early_sunday_shift_measures_real_time_across_dst(
    zone: str, day: date, hours: float
) -> None:
    calendar = BusinessCalendar.weekly(zone, {SUNDAY: ["00:00-06:00"]})
    assert day_total(calendar, day) == timedelta(hours=hours)


def test_whole_day_lengths_follow_dst_in_london() -> None:
    calendar = BusinessCalendar.weekly(LONDON, {SUNDAY: ["00:00-00:00"]})
    assert not calendar.is_always_open
    assert day_total(calendar, date(2026, 3, 29)) == 23 * H
    assert day_total(calendar, date(2026, 10, 25)) == 25 * H


def test_boundary_in_new_york_gap_moves_to_gap_end() -> None:
    calendar = BusinessCalendar.weekly(NY, {SUNDAY: ["02:30-04:00"]})
    start, end = utc(2026, 3, 8), utc(2026, 3, 9)
    assert calendar.open_intervals(start, end) == [(utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))]
    assert calendar.local_instant(date(2026, 3, 8), time(2, 30)) == utc(2026, 3, 8, 7)


def test_shift_inside_london_gap_is_empty() -> None:
    calendar = BusinessCalendar.weekly(LONDON, {SUNDAY: ["01:00-02:00", "03:00-04:00"]})
    assert calendar.open_intervals(utc(2026, 3, 29), utc(2026, 3, 30)) == [
        (utc(2026, 3, 29, 2), utc(2026, 3, 29, 3))
    ]


def test_boundary_in_lord_howe_half_hour_gap() -> None:
    calendar = BusinessCalendar.weekly(LORD_HOWE, {SUNDAY: ["02:10-03:00"]})
    # 02:00 +10:30 jumps to 02:30 +11:00, i.e. 2026-10-03 15:30 UTC.
    assert calendar.local_instant(date(2026, 10, 4), time(2, 10)) == utc(2026, 10, 3, 15, 30)
    assert day_total(calendar, date(2026, 10, 4)) == timedelta(minutes=30)


def test_boundaries_in_overlap_take_the_first_occurrence() -> None:
    ny = BusinessCalendar.weekly(NY, {SUNDAY: ["01:30-03:00"]})
    assert ny.open_intervals(utc(2026, 11, 1), utc(2026, 11, 2)) == [
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8))
    ]
    london = BusinessCalendar.weekly(LONDON, {SUNDAY: ["01:15-01:45"]})
    assert day_total(london, date(2026, 10, 25)) == timedelta(minutes=30)
    lord_howe = BusinessCalendar.weekly(LORD_HOWE, {SUNDAY: ["01:00-02:00"]})
    assert day_total(lord_howe, date(2026, 4, 5)) == 90 * timedelta(minutes=1)


def test_add_across_spring_forward_counts_real_time() -> None:
    calendar = BusinessCalendar.weekly(NY, {SUNDAY: ["00:00-06:00"]})
    assert calendar.add_business_time(local(NY, 2026, 3, 8), 3 * H) == local(NY, 2026, 3, 8, 4)
    assert calendar.add_business_time(local(NY, 2026, 3, 8), 5 * H) == local(NY, 2026, 3, 8, 6)
    assert calendar.add_business_time(local(NY, 2026, 3, 8), 6 * H) == local(NY, 2026, 3, 15, 1)


def test_add_across_fall_back_counts_the_extra_hour() -> None:
    calendar = BusinessCalendar.weekly(NY, dict.fromkeys(range(7), ("00:00-06:00",)))
    start = local(NY, 2026, 11, 1)
    assert calendar.add_business_time(start, 2 * H) == utc(2026, 11, 1, 6)
    assert calendar.add_business_time(start, 7 * H) == utc(2026, 11, 1, 11)
    assert calendar.add_business_time(start, 8 * H) == local(NY, 2026, 11, 2, 1)


def test_santiago_midnight_gap_opens_day_at_one() -> None:
    calendar = BusinessCalendar.weekly("America/Santiago", {SUNDAY: ["00:00-02:00"]})
    assert calendar.open_intervals(utc(2026, 9, 6), utc(2026, 9, 7)) == [
        (utc(2026, 9, 6, 4), utc(2026, 9, 6, 5))
    ]


def test_overnight_shifts() -> None:
    calendar = BusinessCalendar.weekly(NY, {0: ["22:00-06:00"], 4: ["20:00-02:00"]})
    monday = local(NY, 2026, 6, 1, 21)
    assert calendar.next_open_instant(monday) == local(NY, 2026, 6, 1, 22)
    assert calendar.add_business_time(monday, 8 * H) == local(NY, 2026, 6, 2, 6)
    assert calendar.add_business_time(monday, 9 * H) == local(NY, 2026, 6, 5, 21)
    assert calendar.business_time_between(monday, local(NY, 2026, 6, 8)) == 14 * H
    assert calendar.is_open(local(NY, 2026, 6, 6, 1, 59))
    assert not calendar.is_open(local(NY, 2026, 6, 6, 2))


def test_several_shifts_a_day_and_24_hour_shift() -> None:
    calendar = BusinessCalendar.weekly(
        LONDON, {0: ["08:00-12:00", "13:00-17:00"], 1: [Shift(time(9), time(9))]}
    )
    monday = local(LONDON, 2026, 6, 1)
    assert calendar.business_time_between(monday, monday + timedelta(days=1)) == 8 * H
    assert calendar.add_business_time(local(LONDON, 2026, 6, 1, 11), 2 * H) == local(
        LONDON, 2026, 6, 1, 14
    )
    assert calendar.business_time_between(local(LONDON, 2026, 6, 2), monday + 7 * 24 * H) == 24 * H


def test_us_independence_day_and_observed_day() -> None:
    calendar = BusinessCalendar.weekly(NY, WEEKDAYS_9_17, holiday_sets=[("US", "NY")])
    assert calendar.is_holiday(date(2025, 7, 4))
    thursday = local(NY, 2025, 7, 3, 16)
    assert calendar.add_business_time(thursday, 2 * H) == local(NY, 2025, 7, 7, 10)
    assert calendar.business_time_between(local(NY, 2025, 7, 3, 17), local(NY, 2025, 7, 7, 9)) == (
        timedelta(0)
    )
    assert calendar.is_holiday(date(2026, 7, 3))
    assert not calendar.is_open(local(NY, 2026, 7, 3, 12))


def test_english_bank_holiday() -> None:
    calendar = BusinessCalendar.weekly(
        LONDON, WEEKDAYS_9_17, holiday_sets=[HolidaySet("GB", "ENG")]
    )
    assert calendar.next_open_instant(local(LONDON, 2026, 8, 31, 10)) == local(
        LONDON, 2026, 9, 1, 9
    )


def test_yearly_and_one_off_holidays() -> None:
    calendar = BusinessCalendar.weekly(
        NY,
        WEEKDAYS_9_17,
        yearly_holidays=[(12, 25)],
        one_off_holidays=[date(2026, 12, 24)],
    )
    assert not calendar.is_open(local(NY, 2026, 12, 24, 10))
    assert calendar.is_open(local(NY, 2027, 12, 24, 10))
    assert not calendar.is_open(local(NY, 2025, 12, 25, 10))
    assert calendar.business_time_between(local(NY, 2026, 12, 21), local(NY, 2026, 12, 28)) == (
        3 * 8 * H
    )


def test_leap_day_yearly_holiday_only_in_leap_years() -> None:
    calendar = BusinessCalendar.weekly("UTC", dict.fromkeys(range(7), ("00:00-00:00",)))
    closed = BusinessCalendar(calendar.zone, calendar.week, yearly_holidays=frozenset({(2, 29)}))
    assert not closed.is_open(utc(2028, 2, 29, 12))
    assert closed.business_time_between(utc(2027, 2, 1), utc(2027, 3, 1)) == 28 * 24 * H


def test_holiday_closes_the_overnight_tail_but_not_its_own_overnight_shift() -> None:
    calendar = BusinessCalendar.weekly(
        NY, {3: ["22:00-06:00"], 4: ["22:00-06:00"]}, one_off_holidays=[date(2026, 6, 5)]
    )
    thursday, saturday = local(NY, 2026, 6, 4), local(NY, 2026, 6, 6)
    assert calendar.business_time_between(thursday, saturday) == 2 * H
    assert calendar.business_time_between(saturday, saturday + 24 * H) == 6 * H


def test_partial_day_closures() -> None:
    calendar = BusinessCalendar.weekly(
        NY,
        WEEKDAYS_9_17,
        closures=[
            Closure(date(2026, 6, 1), time(12), time(13, 30)),
            Closure(date(2026, 6, 2), time(16), time(10)),
        ],
    )
    monday = local(NY, 2026, 6, 1)
    assert calendar.business_time_between(monday, monday + 24 * H) == 6.5 * H
    assert calendar.add_business_time(local(NY, 2026, 6, 1, 11), 2 * H) == local(
        NY, 2026, 6, 1, 14, 30
    )
    assert calendar.business_time_between(local(NY, 2026, 6, 2), local(NY, 2026, 6, 4)) == 14 * H
    assert calendar.next_open_instant(local(NY, 2026, 6, 2, 16)) == local(NY, 2026, 6, 3, 10)


def test_always_open_is_real_time() -> None:
    calendar = BusinessCalendar.always(NY)
    assert calendar.is_always_open
    start = local(NY, 2026, 3, 7, 12)
    assert calendar.add_business_time(start, 48 * H) == start.astimezone(UTC) + 48 * H
    assert calendar.business_time_between(start, start.astimezone(UTC) + 100 * H) == 100 * H
    assert calendar.business_time_between(start, local(NY, 2026, 3, 8, 12)) == 23 * H
    assert calendar.next_open_instant(start) == start


def test_zero_duration_is_start_even_when_closed() -> None:
    calendar = BusinessCalendar.weekly(NY, WEEKDAYS_9_17)
    saturday = local(NY, 2026, 6, 6, 12)
    assert calendar.add_business_time(saturday, timedelta(0)) == saturday
    assert calendar.add_business_time(saturday, timedelta(seconds=1)) == local(
        NY, 2026, 6, 8, 9, 0, 1
    )


def test_between_is_signed_and_exact_to_the_microsecond() -> None:
    calendar = BusinessCalendar.weekly(NY, WEEKDAYS_9_17)
    a = datetime(2026, 6, 1, 9, 0, 0, 1, tzinfo=ZoneInfo(NY))
    b = datetime(2026, 6, 2, 10, 30, 15, 250_000, tzinfo=ZoneInfo(NY))
    forward = calendar.business_time_between(a, b)
    assert forward == timedelta(hours=9, minutes=30, seconds=15, microseconds=249_999)
    assert calendar.business_time_between(b, a) == -forward
    assert calendar.add_business_time(a, forward) == b


def test_long_spans_round_trip() -> None:
    calendar = BusinessCalendar.weekly(LORD_HOWE, WEEKDAYS_9_17, holiday_sets=[("AU", "NSW")])
    start = local(LORD_HOWE, 2025, 1, 2, 10)
    end = calendar.add_business_time(start, 4000 * H)
    assert calendar.business_time_between(start, end) == 4000 * H
    assert end.tzinfo is UTC


def test_no_business_time_raises() -> None:
    empty = BusinessCalendar.weekly(NY, {})
    with pytest.raises(ValueError, match="no shifts"):
        empty.add_business_time(local(NY, 2026, 1, 1), H)
    with pytest.raises(ValueError, match="no shifts"):
        empty.next_open_instant(local(NY, 2026, 1, 1))
    assert empty.business_time_between(local(NY, 2026, 1, 1), local(NY, 2026, 2, 1)) == (
        timedelta(0)
    )
    mondays = [date(2026, 1, 5) + timedelta(weeks=k) for k in range(52 * 6)]
    closed = BusinessCalendar.weekly(NY, {0: ["09:00-17:00"]}, one_off_holidays=mondays)
    with pytest.raises(ValueError, match="no business time within"):
        closed.add_business_time(local(NY, 2026, 1, 1), H)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: BusinessCalendar.weekly("Mars/Olympus", {}), "unknown time zone"),
        (lambda: BusinessCalendar.weekly(NY, {}, holiday_sets=[("XX", None)]), "XX"),
        (lambda: BusinessCalendar.weekly(NY, {}, yearly_holidays=[(2, 30)]), "day"),
        (lambda: BusinessCalendar.weekly(NY, {7: ["09:00-17:00"]}), "weekdays"),
        (lambda: BusinessCalendar(NY, ((),)), "7 days"),
        (lambda: Shift.parse("9 to 5"), "shift must look like"),
        (lambda: Shift(time(9, tzinfo=UTC), time(17)), "naive"),
    ],
)
def test_invalid_calendars_are_rejected(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_naive_instants_and_negative_durations_are_rejected() -> None:
    calendar = BusinessCalendar.weekly(NY, WEEKDAYS_9_17)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add_business_time(datetime(2026, 1, 1), H)
    with pytest.raises(ValueError, match="negative"):
        calendar.add_business_time(local(NY, 2026, 1, 1), -H)


def test_calendars_are_frozen_values() -> None:
    a = BusinessCalendar.weekly(NY, WEEKDAYS_9_17, holiday_sets=[("US", None)])
    b = BusinessCalendar.weekly(NY, WEEKDAYS_9_17, holiday_sets=[HolidaySet("US")])
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.zone = LONDON  # type: ignore[misc]
