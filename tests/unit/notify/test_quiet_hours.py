from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from services.notify.domain.quiet_hours import QuietHours

NIGHT = QuietHours(start=time(22, 0), end=time(7, 0), zone="Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 3, 1, 21, 30), utc(2026, 3, 2, 6, 0)),
        (utc(2026, 3, 1, 22, 59), utc(2026, 3, 2, 6, 0)),
        (utc(2026, 3, 2, 5, 0), utc(2026, 3, 2, 6, 0)),
        (utc(2026, 3, 2, 6, 0), None),
        (utc(2026, 3, 1, 20, 59), None),
        (utc(2026, 3, 1, 21, 0), utc(2026, 3, 2, 6, 0)),
        (utc(2026, 3, 1, 12, 0), None),
    ],
)
def test_window_across_midnight_in_berlin(at: datetime, expected: datetime | None) -> None:
    assert NIGHT.release_time(at, severity=3) == expected


def test_critical_is_never_held() -> None:
    assert NIGHT.release_time(utc(2026, 3, 1, 23, 0), severity=5) is None


def test_bypass_threshold_can_be_lowered() -> None:
    lenient = QuietHours(time(22), time(7), "Europe/Berlin", bypass_severity=4)
    assert lenient.release_time(utc(2026, 3, 1, 23, 0), severity=4) is None
    assert lenient.release_time(utc(2026, 3, 1, 23, 0), severity=3) is not None


def test_spring_forward_night_is_an_hour_shorter() -> None:
    held = NIGHT.release_time(utc(2026, 3, 28, 21, 30), severity=1)
    assert held == utc(2026, 3, 29, 5, 0)


def test_fall_back_night_is_an_hour_longer() -> None:
    held = NIGHT.release_time(utc(2026, 10, 24, 20, 30), severity=1)
    assert held == utc(2026, 10, 25, 6, 0)


def test_end_inside_the_spring_gap_releases_at_the_jump() -> None:
    early = QuietHours(time(1, 0), time(2, 30), "Europe/Berlin")
    assert early.release_time(utc(2026, 3, 29, 0, 30), severity=1) == utc(2026, 3, 29, 1, 0)


def test_ambiguous_end_releases_at_its_first_occurrence() -> None:
    early = QuietHours(time(1, 0), time(2, 30), "Europe/Berlin")
    assert early.release_time(utc(2026, 10, 24, 23, 30), severity=1) == utc(2026, 10, 25, 0, 30)


def test_local_date_differs_from_utc_date_west_of_greenwich() -> None:
    evening = QuietHours(time(20, 0), time(6, 0), "America/New_York")
    assert evening.release_time(utc(2026, 3, 2, 3, 0), severity=2) == utc(2026, 3, 2, 11, 0)


def test_same_day_window() -> None:
    lunch = QuietHours(time(12, 0), time(13, 0), "Asia/Tokyo")
    assert lunch.release_time(utc(2026, 3, 2, 3, 30), severity=2) == utc(2026, 3, 2, 4, 0)
    assert lunch.release_time(utc(2026, 3, 2, 4, 0), severity=2) is None


def test_weekdays_restrict_the_start_day() -> None:
    weeknights = QuietHours(time(22), time(7), "Europe/Berlin", weekdays=frozenset(range(5)))
    assert weeknights.release_time(utc(2026, 3, 7, 22, 0), severity=2) is None
    assert weeknights.release_time(utc(2026, 3, 7, 5, 0), severity=2) == utc(2026, 3, 7, 6, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": time(7), "end": time(7), "zone": "Europe/Berlin"},
        {"start": time(22), "end": time(7), "zone": "Mars/Olympus"},
        {"start": time(22), "end": time(7), "zone": "UTC", "weekdays": frozenset({7})},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, KeyError)):
        QuietHours(**kwargs)  # type: ignore[arg-type]


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NIGHT.release_time(datetime(2026, 3, 1, 23, 0), severity=1)
