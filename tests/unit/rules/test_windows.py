"""Maintenance windows: one-off, recurring across DST and midnight, ended early, extended."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.rules.domain import (
    LabelMatcher,
    MaintenanceWindow,
    WindowScope,
    WindowValidationError,
    compile_window,
    compile_windows,
    decide,
    validate_window,
)
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules

H = timedelta(hours=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def recurring(
    rrule: str,
    hours: float,
    zone: str,
    *,
    starts_at: datetime | None = None,
    ended_early_at: datetime | None = None,
    extended_until: datetime | None = None,
) -> MaintenanceWindow:
    return MaintenanceWindow(
        id="w",
        name="nightly",
        rrule=rrule,
        duration=timedelta(hours=hours),
        time_zone=zone,
        starts_at=starts_at,
        ended_early_at=ended_early_at,
        extended_until=extended_until,
    )


ONE_OFF = MaintenanceWindow(
    id="w", name="patching", starts_at=utc(2025, 6, 4, 10), ends_at=utc(2025, 6, 4, 14)
)


def test_one_off_bounds() -> None:
    assert not ONE_OFF.is_active(utc(2025, 6, 4, 9, 59, 59))
    assert ONE_OFF.active_occurrence(utc(2025, 6, 4, 10)) == (
        utc(2025, 6, 4, 10),
        utc(2025, 6, 4, 14),
    )
    assert ONE_OFF.is_active(utc(2025, 6, 4, 13, 59, 59))
    assert not ONE_OFF.is_active(utc(2025, 6, 4, 14))
    assert ONE_OFF.next_end_after(utc(2025, 6, 4, 1)) == utc(2025, 6, 4, 14)
    assert ONE_OFF.next_end_after(utc(2025, 6, 4, 15)) is None


def test_one_off_ended_early_and_extended() -> None:
    early = replace(ONE_OFF, ended_early_at=utc(2025, 6, 4, 11))
    assert early.is_active(utc(2025, 6, 4, 10, 30))
    assert not early.is_active(utc(2025, 6, 4, 11))
    assert early.next_end_after(utc(2025, 6, 4, 10)) == utc(2025, 6, 4, 11)
    cancelled = replace(ONE_OFF, ended_early_at=utc(2025, 6, 4, 8))
    assert not cancelled.is_active(utc(2025, 6, 4, 10, 30))
    assert cancelled.next_end_after(utc(2025, 6, 4, 8)) is None
    extended = replace(ONE_OFF, extended_until=utc(2025, 6, 4, 18))
    assert extended.is_active(utc(2025, 6, 4, 17))
    assert extended.next_end_after(utc(2025, 6, 4, 12)) == utc(2025, 6, 4, 18)


DAILY = "DTSTART:20250101T{}\nRRULE:FREQ=DAILY"

# (name, rrule, hours, zone, instant, expected occurrence or None)
DST_CASES: list[tuple[str, str, float, str, datetime, tuple[datetime, datetime] | None]] = [
    # New York springs forward 2025-03-09 02:00 EST -> 03:00 EDT.
    (
        "NY before spring",
        DAILY.format("023000"),
        1,
        "America/New_York",
        utc(2025, 3, 8, 7, 45),
        (utc(2025, 3, 8, 7, 30), utc(2025, 3, 8, 8, 30)),
    ),
    (
        "NY gap shifts forward",
        DAILY.format("023000"),
        1,
        "America/New_York",
        utc(2025, 3, 9, 7, 45),
        (utc(2025, 3, 9, 7, 30), utc(2025, 3, 9, 8, 30)),
    ),
    (
        "NY gap: not an hour early",
        DAILY.format("023000"),
        1,
        "America/New_York",
        utc(2025, 3, 9, 6, 45),
        None,
    ),
    (
        "NY after spring",
        DAILY.format("023000"),
        1,
        "America/New_York",
        utc(2025, 3, 10, 6, 45),
        (utc(2025, 3, 10, 6, 30), utc(2025, 3, 10, 7, 30)),
    ),
    (
        "NY exact duration over the gap",
        DAILY.format("010000"),
        2,
        "America/New_York",
        utc(2025, 3, 9, 7, 30),
        (utc(2025, 3, 9, 6), utc(2025, 3, 9, 8)),
    ),
    # New York falls back 2025-11-02 02:00 EDT -> 01:00 EST.
    (
        "NY ambiguous takes first",
        DAILY.format("013000"),
        1,
        "America/New_York",
        utc(2025, 11, 2, 6, 0),
        (utc(2025, 11, 2, 5, 30), utc(2025, 11, 2, 6, 30)),
    ),
    (
        "NY second 01:30 is not a start",
        DAILY.format("013000"),
        1,
        "America/New_York",
        utc(2025, 11, 2, 6, 45),
        None,
    ),
    (
        "NY overnight across fall back",
        DAILY.format("220000"),
        7,
        "America/New_York",
        utc(2025, 11, 2, 8, 59),
        (utc(2025, 11, 2, 2), utc(2025, 11, 2, 9)),
    ),
    (
        "NY after fall back",
        DAILY.format("013000"),
        1,
        "America/New_York",
        utc(2025, 11, 3, 6, 45),
        (utc(2025, 11, 3, 6, 30), utc(2025, 11, 3, 7, 30)),
    ),
    # London springs forward 2025-03-30 01:00 GMT -> 02:00 BST, falls back 2025-10-26.
    (
        "London weekly GMT",
        "DTSTART:20250105T090000\nRRULE:FREQ=WEEKLY;BYDAY=SU",
        2,
        "Europe/London",
        utc(2025, 3, 23, 10, 30),
        (utc(2025, 3, 23, 9), utc(2025, 3, 23, 11)),
    ),
    (
        "London weekly BST",
        "DTSTART:20250105T090000\nRRULE:FREQ=WEEKLY;BYDAY=SU",
        2,
        "Europe/London",
        utc(2025, 4, 6, 8, 30),
        (utc(2025, 4, 6, 8), utc(2025, 4, 6, 10)),
    ),
    (
        "London weekly BST ends in UTC 10:00",
        "DTSTART:20250105T090000\nRRULE:FREQ=WEEKLY;BYDAY=SU",
        2,
        "Europe/London",
        utc(2025, 4, 6, 10, 30),
        None,
    ),
    (
        "London gap",
        "DTSTART:20250105T013000\nRRULE:FREQ=WEEKLY;BYDAY=SU",
        1,
        "Europe/London",
        utc(2025, 3, 30, 1, 45),
        (utc(2025, 3, 30, 1, 30), utc(2025, 3, 30, 2, 30)),
    ),
    (
        "London ambiguous",
        "DTSTART:20250105T013000\nRRULE:FREQ=WEEKLY;BYDAY=SU",
        1,
        "Europe/London",
        utc(2025, 10, 26, 0, 45),
        (utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 30)),
    ),
    # Midnight: 23:00 for 3h in London (BST) covers 01:30 local next day.
    (
        "London across midnight",
        DAILY.format("230000"),
        3,
        "Europe/London",
        utc(2025, 6, 5, 0, 30),
        (utc(2025, 6, 4, 22), utc(2025, 6, 5, 1)),
    ),
    (
        "London after midnight end",
        DAILY.format("230000"),
        3,
        "Europe/London",
        utc(2025, 6, 5, 1, 0),
        None,
    ),
    (
        "Weekly Fri night into Sat",
        "DTSTART:20250103T220000\nRRULE:FREQ=WEEKLY;BYDAY=FR",
        8,
        "UTC",
        utc(2025, 6, 7, 5),
        (utc(2025, 6, 6, 22), utc(2025, 6, 7, 6)),
    ),
    (
        "Weekly Fri night not Thu",
        "DTSTART:20250103T220000\nRRULE:FREQ=WEEKLY;BYDAY=FR",
        8,
        "UTC",
        utc(2025, 6, 6, 5),
        None,
    ),
]


@pytest.mark.parametrize(
    ("rrule", "hours", "zone", "at", "expected"),
    [c[1:] for c in DST_CASES],
    ids=[c[0] for c in DST_CASES],
)
def test_recurring_occurrence(
    rrule: str, hours: float, zone: str, at: datetime, expected: object
) -> None:
    window = recurring(rrule, hours, zone)
    assert window.active_occurrence(at) == expected
    assert window.is_active(at) is (expected is not None)
    compiled = compile_windows([window])
    assert bool(compiled.active_at(at)) is (expected is not None)


def test_dtstart_from_starts_at_tzid_and_until_in_utc() -> None:
    by_starts_at = MaintenanceWindow(
        id="w",
        name="n",
        rrule="FREQ=DAILY;COUNT=3",
        duration=H,
        time_zone="America/New_York",
        starts_at=utc(2025, 3, 8, 7, 30),
    )
    assert by_starts_at.active_occurrence(utc(2025, 3, 9, 7, 45)) == (
        utc(2025, 3, 9, 7, 30),
        utc(2025, 3, 9, 8, 30),
    )
    assert not by_starts_at.is_active(utc(2025, 3, 11, 6, 45))
    assert by_starts_at.next_end_after(utc(2025, 3, 10, 8)) is None
    tzid = recurring(
        "DTSTART;TZID=Europe/London:20250105T090000\nRRULE:FREQ=WEEKLY;UNTIL=20250406T080000Z",
        1,
        "Europe/London",
    )
    assert tzid.is_active(utc(2025, 4, 6, 8, 30))
    assert not tzid.is_active(utc(2025, 4, 13, 8, 30))


def test_recurring_next_end_after() -> None:
    window = recurring(DAILY.format("230000"), 3, "Europe/London")
    assert window.next_end_after(utc(2025, 6, 4, 23)) == utc(2025, 6, 5, 1)
    assert window.next_end_after(utc(2025, 6, 5, 1)) == utc(2025, 6, 6, 1)
    assert compile_windows([window, ONE_OFF]).next_end_after(utc(2025, 6, 4, 9)) == utc(
        2025, 6, 4, 14
    )


def test_recurring_ended_early_only_cuts_that_occurrence() -> None:
    window = recurring(DAILY.format("220000"), 4, "UTC", ended_early_at=utc(2025, 6, 4, 23))
    assert window.is_active(utc(2025, 6, 4, 22, 30))
    assert not window.is_active(utc(2025, 6, 4, 23, 30))
    assert window.next_end_after(utc(2025, 6, 4, 22)) == utc(2025, 6, 4, 23)
    assert window.is_active(utc(2025, 6, 5, 23, 30))
    assert window.is_active(utc(2025, 6, 3, 23, 30))


def test_recurring_extended() -> None:
    window = recurring(DAILY.format("220000"), 2, "UTC", extended_until=utc(2025, 6, 5, 3))
    assert window.is_active(utc(2025, 6, 5, 2, 30))
    assert window.next_end_after(utc(2025, 6, 4, 23)) == utc(2025, 6, 5, 3)
    assert not window.is_active(utc(2025, 6, 6, 0, 30))


BAD_WINDOWS = [
    (
        MaintenanceWindow(id="w", name="n", starts_at=utc(2025, 1, 2), ends_at=utc(2025, 1, 1)),
        "ends_at",
    ),
    (
        MaintenanceWindow(
            id="w", name="n", starts_at=datetime(2025, 1, 1), ends_at=utc(2025, 1, 2)
        ),
        "starts_at",
    ),
    (MaintenanceWindow(id="w", name="n", ends_at=utc(2025, 1, 2)), "starts_at"),
    (recurring("FREQ=DAILY", 1, "Nowhere/City", starts_at=T0), "time_zone"),
    (recurring("FREQ=SOMETIMES", 1, "UTC", starts_at=T0), "rrule"),
    (recurring("FREQ=MINUTELY", 1, "UTC", starts_at=T0), "rrule"),
    (recurring("FREQ=DAILY", 1, "UTC"), "rrule"),
    (recurring("DTSTART;TZID=Europe/Paris:20250101T000000\nRRULE:FREQ=DAILY", 1, "UTC"), "rrule"),
    (recurring("EXRULE:FREQ=DAILY", 1, "UTC", starts_at=T0), "rrule"),
    (recurring("FREQ=DAILY", 0, "UTC", starts_at=T0), "duration"),
    (
        MaintenanceWindow(
            id="w",
            name="n",
            starts_at=T0,
            ends_at=T0 + H,
            scope=WindowScope(label_matchers=(LabelMatcher("a", "=~", "("),)),
        ),
        "scope.label_matchers[0].value",
    ),
]


@pytest.mark.parametrize(
    ("window", "field"), BAD_WINDOWS, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_WINDOWS)]
)
def test_bad_window_names_the_field(window: MaintenanceWindow, field: str) -> None:
    assert field in [v.field_path for v in validate_window(window)]
    with pytest.raises(WindowValidationError):
        compile_window(window)


def test_compile_windows_prefixes_the_index() -> None:
    with pytest.raises(WindowValidationError) as caught:
        compile_windows([ONE_OFF, recurring("FREQ=DAILY", 1, "Bad/Zone", starts_at=T0)])
    assert caught.value.field_path == "windows[1].time_zone"


# -- suppression in decide ---------------------------------------------------


def test_scoped_window_suppresses_only_its_scope() -> None:
    window = MaintenanceWindow(
        id="w1",
        name="Acme patching",
        starts_at=T0 - H,
        ends_at=T0 + H,
        scope=WindowScope(clients=("acme corp",), device_globs=("srv-*",)),
    )
    rules = make_rules(make_rule())
    suppressed = decide(rules, [window], make_alert(), T0)
    assert suppressed.kind == "suppressed"
    assert suppressed.window_id == "w1"
    assert suppressed.actions is None
    assert suppressed.matched_rule_ids == ()
    [entry] = suppressed.explanation
    assert entry.condition == "maintenance_window"
    assert entry.matched
    assert "w1" in entry.detail
    other_client = decide(rules, [window], make_alert(client_id="c-2", client_name="Globex"), T0)
    assert other_client.kind == "routed"
    assert other_client.explanation[0].condition == "maintenance_window"
    assert not other_client.explanation[0].matched


def test_empty_scope_is_whole_tenant_and_labels_scope() -> None:
    whole = MaintenanceWindow(id="all", name="all", starts_at=T0, ends_at=T0 + H)
    assert decide(make_rules(), [whole], make_alert(), T0).kind == "suppressed"
    by_label = MaintenanceWindow(
        id="lbl",
        name="lbl",
        starts_at=T0,
        ends_at=T0 + H,
        scope=WindowScope(label_matchers=(LabelMatcher("env", "=", "prod"),)),
    )
    assert (
        decide(make_rules(), [by_label], make_alert(labels={"env": "prod"}), T0).kind
        == "suppressed"
    )
    assert (
        decide(make_rules(), [by_label], make_alert(labels={"env": "dev"}), T0).kind == "unmatched"
    )


def test_windows_are_judged_at_now_not_at_the_alert_time() -> None:
    window = MaintenanceWindow(id="w", name="n", starts_at=T0, ends_at=T0 + H)
    alert = make_alert(occurred_at=T0 + timedelta(minutes=30))
    rules = make_rules(make_rule())
    assert decide(rules, [window], alert, T0 + timedelta(minutes=30)).kind == "suppressed"
    # Re-evaluation when the window ends routes the still-firing alert.
    assert decide(rules, [window], alert, T0 + H).kind == "routed"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        decide(make_rules(), [], make_alert(), datetime(2025, 1, 1))


# -- the boundary cache agrees with exact evaluation --------------------------

ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC")


@settings(max_examples=60, deadline=None)
@given(
    start_hour=st.integers(0, 23),
    minutes=st.sampled_from([0, 30]),
    hours=st.integers(1, 30),
    freq=st.sampled_from(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=SU,WE", "FREQ=HOURLY;INTERVAL=5"]),
    zone=st.sampled_from(ZONES),
    offsets=st.lists(st.integers(0, 400 * 24 * 60), min_size=1, max_size=40),
)
def test_cached_active_set_matches_exact_evaluation(
    start_hour: int, minutes: int, hours: int, freq: str, zone: str, offsets: list[int]
) -> None:
    window = recurring(
        f"DTSTART:20250101T{start_hour:02d}{minutes:02d}00\nRRULE:{freq}", hours / 2, zone
    )
    exact = compile_window(window)
    window_set = compile_windows([window])
    base = utc(2025, 1, 1)
    for offset in offsets + sorted(offsets):
        at = base + timedelta(minutes=offset)
        expected = exact.occurrence_at(at)
        got = window_set.active_at(at)
        assert bool(got) is (expected is not None)
        if expected is not None:
            assert expected[0] <= at < expected[1]
