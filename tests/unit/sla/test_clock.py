"""The SLA clock state machine: pauses, thresholds, retargets, completion, reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.domain.calendar import BusinessCalendar
from services.sla.domain.clock import (
    DEFAULT_THRESHOLDS,
    Clock,
    ClockError,
    ClockState,
    TargetKind,
)

NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)
OFFICE = BusinessCalendar.weekly(
    "America/New_York", dict.fromkeys(range(5), ("09:00-17:00",)), holiday_sets=[("US", None)]
)


def ny(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


def start(
    target: timedelta,
    at: datetime,
    *,
    business_time: bool = True,
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS,
    paused: bool = False,
) -> Clock:
    return Clock.start(
        kind=TargetKind.RESOLUTION,
        target=target,
        calendar=OFFICE,
        at=at,
        business_time=business_time,
        thresholds=thresholds,
        paused=paused,
    )


def test_due_in_business_time_across_weekend_and_dst() -> None:
    clock = start(4 * H, ny(2026, 3, 6, 15))
    assert clock.state is ClockState.RUNNING
    assert clock.due_at == ny(2026, 3, 9, 11)
    assert clock.remaining(ny(2026, 3, 7, 12)) == 2 * H
    assert clock.percent_used(ny(2026, 3, 9, 10)) == 75.0


def test_pause_and_resume_across_a_weekend() -> None:
    friday = ny(2026, 6, 5, 14)
    unpaused = start(4 * H, friday)
    assert unpaused.due_at == ny(2026, 6, 8, 10)

    paused = unpaused.pause(ny(2026, 6, 5, 16))
    assert paused.state is ClockState.PAUSED
    assert paused.due_at is None
    assert paused.remaining(ny(2026, 6, 8, 9)) == 2 * H
    resumed = paused.resume(ny(2026, 6, 8, 10))
    assert resumed.due_at == ny(2026, 6, 8, 12)

    outside_hours = unpaused.pause(ny(2026, 6, 5, 17, 30)).resume(ny(2026, 6, 8, 8))
    assert outside_hours.due_at == unpaused.due_at


def test_thresholds_fire_at_exact_instants() -> None:
    clock = start(8 * H, ny(2026, 6, 1, 9))
    expected = [
        (50, ny(2026, 6, 1, 13)),
        (75, ny(2026, 6, 1, 15)),
        (90, ny(2026, 6, 1, 16, 12)),
        (100, ny(2026, 6, 1, 17)),
    ]
    seen = []
    while (due := clock.next_threshold()) is not None:
        seen.append(due)
        clock = clock.mark_fired(due[0])
    assert seen == expected
    assert clock.fired == frozenset(DEFAULT_THRESHOLDS)
    assert clock.due_at == ny(2026, 6, 1, 17)


def test_threshold_amount_rounds_up_to_the_microsecond() -> None:
    clock = start(timedelta(microseconds=3), ny(2026, 6, 1, 9))
    assert clock.threshold_amount(50) == timedelta(microseconds=2)
    assert clock.threshold_amount(100) == timedelta(microseconds=3)


def test_crossed_threshold_keeps_its_past_instant_through_a_pause() -> None:
    clock = start(8 * H, ny(2026, 6, 1, 9)).pause(ny(2026, 6, 1, 14))
    assert clock.next_threshold() == (50, ny(2026, 6, 1, 13))
    clock = clock.mark_fired(50)
    assert clock.next_threshold() is None
    assert clock.resume(ny(2026, 6, 2, 9)).next_threshold() == (75, ny(2026, 6, 2, 10))


def test_complete_met_at_due_and_breached_after() -> None:
    clock = start(2 * H, ny(2026, 6, 1, 9))
    met = clock.complete(ny(2026, 6, 1, 11))
    assert met.state is ClockState.MET
    assert met.completed_at == ny(2026, 6, 1, 11)
    assert met.due_at == ny(2026, 6, 1, 11)
    assert met.next_threshold() is None

    late = clock.complete(ny(2026, 6, 1, 11, 0, 1))
    assert late.state is ClockState.BREACHED
    assert late.due_at == ny(2026, 6, 1, 11)
    assert late.percent_used(ny(2026, 6, 9)) > 100


def test_complete_while_paused_uses_consumed_time() -> None:
    clock = start(2 * H, ny(2026, 6, 1, 9)).pause(ny(2026, 6, 1, 10))
    done = clock.complete(ny(2026, 6, 3, 12))
    assert done.state is ClockState.MET
    assert done.consumed == H
    assert done.due_at is None


def test_status_reports_breach_of_an_open_clock() -> None:
    clock = start(H, ny(2026, 6, 1, 9))
    assert clock.status(ny(2026, 6, 1, 10)) is ClockState.RUNNING
    assert clock.status(ny(2026, 6, 1, 10, 0, 1)) is ClockState.BREACHED
    assert clock.state is ClockState.RUNNING


def test_reopen_resumes_resolution_clock_only() -> None:
    done = start(4 * H, ny(2026, 6, 1, 9)).complete(ny(2026, 6, 1, 12))
    reopened = done.reopen(ny(2026, 6, 2, 9))
    assert reopened.state is ClockState.RUNNING
    assert reopened.completed_at is None
    assert reopened.due_at == ny(2026, 6, 2, 10)
    assert done.reopen(ny(2026, 6, 2, 9), paused=True).state is ClockState.PAUSED

    response = Clock.start(
        kind=TargetKind.FIRST_RESPONSE, target=H, calendar=OFFICE, at=ny(2026, 6, 1, 9)
    ).complete(ny(2026, 6, 1, 9, 30))
    with pytest.raises(ClockError) as caught:
        response.reopen(ny(2026, 6, 2, 9))
    assert caught.value.reason == "invalid_transition"


def test_retarget_on_priority_raise_and_drop() -> None:
    clock = start(8 * H, ny(2026, 6, 1, 9)).mark_fired(50)
    raised = clock.retarget(4 * H, ny(2026, 6, 1, 14))
    assert raised.target == 4 * H
    assert raised.due_at == ny(2026, 6, 1, 13)
    assert raised.fired == frozenset({50})
    assert raised.next_threshold() == (75, ny(2026, 6, 1, 12))
    assert raised.status(ny(2026, 6, 1, 14)) is ClockState.BREACHED

    dropped = clock.retarget(16 * H, ny(2026, 6, 1, 14))
    assert dropped.fired == frozenset()
    assert dropped.next_threshold() == (50, ny(2026, 6, 1, 17))
    assert dropped.due_at == ny(2026, 6, 2, 17)
    assert dropped.remaining(ny(2026, 6, 1, 14)) == 11 * H


def test_retarget_to_calendar_time_remeasures_history() -> None:
    clock = start(8 * H, ny(2026, 6, 5, 16)).pause(ny(2026, 6, 5, 18)).resume(ny(2026, 6, 6, 9))
    assert clock.consumed == H
    p1 = clock.retarget(48 * H, ny(2026, 6, 6, 10), business_time=False)
    assert p1.consumed == 3 * H
    assert p1.consumed_at(ny(2026, 6, 6, 10)) == 3 * H
    assert p1.due_at == ny(2026, 6, 8, 7)


def test_calendar_time_target() -> None:
    clock = start(H, ny(2026, 6, 6, 23, 30), business_time=False)
    assert clock.due_at == ny(2026, 6, 7, 0, 30)


def test_start_paused() -> None:
    clock = start(2 * H, ny(2026, 6, 1, 9), paused=True)
    assert clock.state is ClockState.PAUSED
    assert clock.next_threshold() is None
    assert clock.resume(ny(2026, 6, 1, 10)).due_at == ny(2026, 6, 1, 12)


def test_invalid_transitions() -> None:
    clock = start(2 * H, ny(2026, 6, 1, 9))
    with pytest.raises(ClockError) as caught:
        clock.resume(ny(2026, 6, 1, 10))
    assert caught.value.reason == "invalid_transition"
    with pytest.raises(ClockError) as caught:
        clock.pause(ny(2026, 6, 1, 8))
    assert caught.value.reason == "out_of_order"
    done = clock.complete(ny(2026, 6, 1, 10))
    for transition in (done.pause, done.resume, done.complete):
        with pytest.raises(ClockError):
            transition(ny(2026, 6, 1, 11))
    with pytest.raises(ClockError):
        done.retarget(H, ny(2026, 6, 1, 11))
    with pytest.raises(ValueError, match="positive"):
        start(timedelta(0), ny(2026, 6, 1, 9))
    with pytest.raises(ValueError, match="thresholds"):
        start(H, ny(2026, 6, 1, 9), thresholds=(0, 100))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.pause(datetime(2026, 6, 1, 10))
    with pytest.raises(ValueError, match="not one of"):
        clock.mark_fired(42)


@st.composite
def histories(draw: st.DrawFn) -> tuple[Clock, list[tuple[datetime, datetime]]]:
    """A clock driven through random pause/resume steps, with its running stretches."""
    origin = datetime(2026, 2, 27, tzinfo=UTC) + draw(st.integers(0, 60 * 24 * 14)) * timedelta(
        minutes=1
    )
    target = draw(st.integers(1, 60 * 40)) * timedelta(minutes=1)
    steps = draw(st.lists(st.integers(1, 60 * 24 * 3), max_size=8))
    clock = start(target, origin, thresholds=(25, 50, 75, 90, 100, 150))
    running: list[tuple[datetime, datetime]] = []
    now = origin
    for minutes in steps:
        later = now + minutes * timedelta(minutes=1)
        if clock.state is ClockState.RUNNING:
            running.append((now, later))
            clock = clock.pause(later)
        else:
            clock = clock.resume(later)
        now = later
    if clock.state is ClockState.RUNNING:
        running.append((now, datetime(2027, 1, 1, tzinfo=UTC)))
    return clock, running


@settings(max_examples=100, deadline=None, derandomize=True)
@given(history=histories())
def test_threshold_instants_match_consumption(
    history: tuple[Clock, list[tuple[datetime, datetime]]],
) -> None:
    clock, running = history

    def consumed_by(instant: datetime) -> timedelta:
        return sum(
            (OFFICE.business_time_between(a, min(b, instant)) for a, b in running if a < instant),
            timedelta(0),
        )

    assert clock.consumed == sum(
        (OFFICE.business_time_between(a, b) for a, b in running[: len(clock.segments)]),
        timedelta(0),
    )
    previous = None
    while (due := clock.next_threshold()) is not None:
        percent, instant = due
        amount = clock.threshold_amount(percent)
        assert consumed_by(instant) == amount
        assert consumed_by(instant - timedelta(microseconds=1)) < amount
        assert previous is None or instant >= previous
        previous = instant
        clock = clock.mark_fired(percent)
