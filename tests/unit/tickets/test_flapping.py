"""Flap damping's pure decisions (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.tickets.domain.alerts import AlertKind
from services.tickets.domain.flapping import is_flapping, quiet_since, state_changes
from services.tickets.domain.tickets import Damping

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T, R = AlertKind.TRIGGER, AlertKind.RESET


def _events(
    kinds: str, *, step: timedelta = timedelta(minutes=1)
) -> list[tuple[datetime, int, AlertKind]]:
    return [(T0 + i * step, i + 1, T if k == "T" else R) for i, k in enumerate(kinds)]


def test_repeated_triggers_are_one_state_change() -> None:
    events = _events("TTTTR")
    assert state_changes(events, upto=(T0 + timedelta(hours=1), 99), window=timedelta(hours=1)) == 2


def test_five_changes_in_the_window_is_flapping_by_default() -> None:
    damping = Damping()
    events = _events("TRTRT")
    last = (events[-1][0], events[-1][1])
    assert is_flapping(events, upto=last, damping=damping)
    assert not is_flapping(events[:4], upto=(events[3][0], events[3][1]), damping=damping)
    assert not is_flapping(events, upto=last, damping=Damping(enabled=False))


def test_changes_outside_the_window_do_not_count() -> None:
    events = _events("TRTRT", step=timedelta(minutes=10))  # 40 minutes from first to last
    last = (events[-1][0], events[-1][1])
    assert state_changes(events, upto=last, window=timedelta(minutes=30)) == 4
    assert not is_flapping(events, upto=last, damping=Damping())


def test_order_of_the_input_does_not_matter() -> None:
    events = _events("TRTRTRT")
    last = (events[-1][0], events[-1][1])
    assert state_changes(list(reversed(events)), upto=last, window=timedelta(hours=1)) == 7
    assert quiet_since(list(reversed(events))) == (events[-1][0], False)
    assert quiet_since(_events("TR")) == (T0 + timedelta(minutes=1), True)
    assert quiet_since([]) is None
