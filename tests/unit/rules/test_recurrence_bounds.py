"""Recurring windows cannot stall the router: RRULEs are checked, expansions are bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import DAILY

from services.rules.domain import (
    MaintenanceWindow,
    WindowValidationError,
    compile_window,
    decide,
    validate_window,
)
from services.rules.domain.recurrence import (
    MAX_OCCURRENCES,
    BoundedRule,
    MeteredRRule,
    OutOfSteps,
    RecurrenceError,
)
from tests.unit.rules.factories import T0, make_alert, make_rules

UTC_ZONE = ZoneInfo("UTC")


def recurring(rrule: str, hours: float = 1, starts_at: datetime = T0) -> MaintenanceWindow:
    return MaintenanceWindow(
        id="w", name="n", rrule=rrule, duration=timedelta(hours=hours), starts_at=starts_at
    )


def rrule_messages(window: MaintenanceWindow) -> list[str]:
    return [v.message for v in validate_window(window) if v.field_path == "rrule"]


# Each of these once hung (INTERVAL=0: forever) or spun to the year 9999 (seconds per query).
NEVER_EXPANDS = [
    ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
    ("FREQ=WEEKLY;INTERVAL=-1", "INTERVAL"),
    ("FREQ=DAILY;INTERVAL=abc", "INTERVAL"),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "no occurrence"),
    ("FREQ=HOURLY;BYMONTH=4;BYMONTHDAY=31", "no occurrence"),
    ("FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2", "no occurrence"),
    ("FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29", "no occurrence"),
    ("FREQ=DAILY;BYMONTHDAY=32", "BYMONTHDAY"),
    ("FREQ=DAILY;COUNT=0", "COUNT"),
    ("FREQ=DAILY;COUNT=5;UNTIL=20300101T000000Z", "COUNT or UNTIL"),
    ("FREQ=DAILY;BYEASTER=0", "BYEASTER"),
    ("FREQ=YEARLY;INTERVAL=500", "INTERVAL"),
]


@pytest.mark.parametrize(("rrule", "says"), NEVER_EXPANDS, ids=[r for r, _ in NEVER_EXPANDS])
def test_rrule_that_cannot_expand_is_a_violation_on_the_rrule_field(rrule: str, says: str) -> None:
    window = recurring(rrule)
    messages = rrule_messages(window)
    assert messages, f"{rrule} was accepted"
    assert says in messages[0]
    with pytest.raises(WindowValidationError):
        compile_window(window)


def test_interval_zero_never_reaches_the_routing_path() -> None:
    window = recurring("FREQ=DAILY;INTERVAL=0")
    with pytest.raises(WindowValidationError):
        window.is_active(T0 + timedelta(days=3))
    with pytest.raises(WindowValidationError):
        decide(make_rules(), [window], make_alert(), T0 + timedelta(days=3))


def test_recurring_duration_is_capped() -> None:
    window = recurring("FREQ=YEARLY", hours=24 * 400)
    assert [v.field_path for v in validate_window(window)] == ["duration"]


def test_metered_expansion_of_an_empty_rule_stops_at_its_budget() -> None:
    # dateutil alone steps day by day to the year 9999 looking for 30 February.
    rule = MeteredRRule(24, freq=DAILY, dtstart=datetime(2026, 1, 1), bymonth=2, bymonthday=30)
    with pytest.raises(OutOfSteps):
        next(iter(rule))


def test_metered_expansion_yields_normally_within_budget() -> None:
    rule = MeteredRRule(3, freq=DAILY, dtstart=datetime(2026, 1, 1), count=3)
    assert list(rule) == [datetime(2026, 1, d) for d in (1, 2, 3)]


def test_old_daily_window_expands_only_around_the_instant_asked() -> None:
    start = datetime(2026, 1, 1, 22)
    rule = BoundedRule("FREQ=DAILY", start, UTC_ZONE)
    # 30 years on: still answered from the nearest aligned period, not from DTSTART.
    later = datetime(2056, 3, 1)
    assert rule.between(later, later + timedelta(days=2)) == [
        datetime(2056, 3, 1, 22),
        datetime(2056, 3, 2, 22),
    ]


def test_expansion_is_capped_in_occurrences() -> None:
    rule = BoundedRule("FREQ=HOURLY", datetime(2026, 1, 1), UTC_ZONE)
    found = rule.between(datetime(2026, 1, 1), datetime(2030, 1, 1))
    assert len(found) == MAX_OCCURRENCES
    assert found[0] == datetime(2026, 1, 1)


def test_count_becomes_until_and_old_count_windows_end() -> None:
    window = recurring("FREQ=DAILY;COUNT=3", starts_at=datetime(2026, 1, 1, 10, tzinfo=UTC))
    assert window.is_active(datetime(2026, 1, 3, 10, 30, tzinfo=UTC))
    assert not window.is_active(datetime(2026, 1, 4, 10, 30, tzinfo=UTC))
    assert window.next_end_after(datetime(2026, 1, 4, tzinfo=UTC)) is None


def test_sparse_valid_rule_finds_its_next_start() -> None:
    # 29 February: the next start after March 2026 is in 2028.
    window = recurring(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", starts_at=datetime(2024, 2, 29, tzinfo=UTC)
    )
    assert window.next_end_after(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(
        2028, 2, 29, 1, tzinfo=UTC
    )


def test_until_in_utc_is_wall_time_of_the_zone() -> None:
    rule = BoundedRule(
        "FREQ=DAILY;UNTIL=20260103T090000Z", datetime(2026, 1, 1, 10), ZoneInfo("Europe/Paris")
    )
    assert rule.between(datetime(2026, 1, 1), datetime(2026, 2, 1)) == [
        datetime(2026, 1, 1, 10),
        datetime(2026, 1, 2, 10),
        datetime(2026, 1, 3, 10),
    ]


def test_unknown_part_is_named() -> None:
    with pytest.raises(RecurrenceError, match="BYFOO"):
        BoundedRule("FREQ=DAILY;BYFOO=1", datetime(2026, 1, 1), UTC_ZONE)
