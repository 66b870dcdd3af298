"""Pure decisions under a persistence delay for events that arrive out of order: what an
early trigger does, who carries a reopen, what a late reset leaves of a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.tickets.domain.alerts import AlertKind, RoutedActions, RoutedAlert
from services.tickets.domain.delays import (
    EarlyVerdict,
    StraddleVerdict,
    carried,
    counts,
    delayed_moves,
    early_decision,
    straddle_verdict,
    waiting,
)
from services.tickets.domain.order import Logged, Persisted, persisted
from services.tickets.domain.tickets import Priority

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WITHIN = timedelta(minutes=10)


def _t(minutes: int, *, ticket: str | None = None) -> Logged:
    """A logged trigger ``minutes`` after T0 (its id ``t<minutes>``)."""
    return Logged(
        series_key="s",
        alert_id=f"t{minutes}",
        kind=AlertKind.TRIGGER,
        occurred_at=T0 + timedelta(minutes=minutes),
        sequence=minutes,
        ticket_id=ticket,
    )


def _met(*triggers: Logged) -> Persisted:
    met = persisted(triggers, count=2, within=WITHIN)
    assert met is not None
    return met


def _alert(entry: Logged) -> RoutedAlert:
    return RoutedAlert(
        alert_id=entry.alert_id,
        tenant_id="t",
        kind=AlertKind.TRIGGER,
        series_key="s",
        sequence=entry.sequence,
        occurred_at=entry.occurred_at,
        device_id="dev",
        device_name="DEV",
        client_id="",
        client_name="",
        site_id="",
        site_name="",
        condition="disk",
        severity=3,
        summary="",
        message="",
        labels={},
        actions=RoutedActions(
            wants_ticket=True,
            priority=Priority.P2,
            queue="",
            assignee="",
            title="",
            description="",
            close_on_reset=None,
            reset_in_rmm_on_close=None,
        ),
    )


def _ids(entries: tuple[Logged, ...]) -> list[str]:
    return [e.alert_id for e in entries]


def test_waiting_is_what_counts_with_it_and_has_not_counted_yet() -> None:
    """A new ticket counts the whole window and the later triggers, a reopen only the
    trigger that met the delay and the later ones; triggers already counted are left out."""
    met = _met(_t(1), _t(3), _t(5, ticket="x"), _t(6))
    assert _ids(waiting(met, "t1", reopens=False)) == ["t3", "t6"]
    assert _ids(waiting(met, "t1", reopens=True)) == ["t3", "t6"]
    assert _ids(waiting(met, "t3", reopens=False)) == ["t1", "t6"]
    assert waiting(None, "t1", reopens=False) == ()
    assert counts(met, "t1", reopens=False)
    assert not counts(met, "t1", reopens=True)  # it only completed the window
    assert counts(met, "t3", reopens=True)
    assert not counts(None, "t1", reopens=False)


def test_a_reopen_is_carried_by_the_trigger_that_met_the_delay() -> None:
    late = _alert(_t(1))
    carrier, rest = carried(late, (_t(3), _t(6)))
    assert (carrier.alert_id, carrier.occurred_at, carrier.sequence) == ("t3", _t(3).occurred_at, 3)
    assert carrier.series_key == late.series_key and carrier.actions == late.actions
    assert _ids(rest) == ["t6"]
    assert carried(late, ()) == (late, ())


def test_an_early_trigger_waits_when_the_delay_is_not_met() -> None:
    met = persisted([_t(1), _t(20)], count=2, within=WITHIN)
    assert early_decision(met, "t1", reopens=False).verdict is EarlyVerdict.WAITS


def test_an_early_trigger_that_opens_counts_with_the_triggers_that_waited() -> None:
    """T5 waited alone; T3 arrives late and meets the delay with it: both count."""
    decision = early_decision(_met(_t(3), _t(5)), "t3", reopens=False)
    assert decision.verdict is EarlyVerdict.COUNTS
    assert _ids(decision.extra) == ["t5"]


def test_an_early_trigger_that_only_completes_a_reopening_window_is_carried() -> None:
    """T1 arrives after T3: in order T3 met the delay and reopened the closed ticket,
    counting itself only; T1 counts nowhere, T3 carries the reopen, T6 counts after it."""
    decision = early_decision(_met(_t(1), _t(3), _t(6)), "t1", reopens=True)
    assert decision.verdict is EarlyVerdict.CARRIED
    assert _ids(decision.extra) == ["t3", "t6"]
    # T6 already reopened it (T3 waited): T3 met the delay in order, it still counts.
    decision = early_decision(_met(_t(1), _t(3), _t(6, ticket="x")), "t1", reopens=True)
    assert decision.verdict is EarlyVerdict.CARRIED
    assert _ids(decision.extra) == ["t3"]


def test_an_early_trigger_outside_what_counts_is_dropped() -> None:
    """Completing the window of a ticket that was open already, or falling out of the
    window (forgotten before the delay was met), counts nowhere."""
    met = _met(_t(1), _t(3, ticket="x"))
    assert early_decision(met, "t1", reopens=True).verdict is EarlyVerdict.DROPPED
    forgotten = _met(_t(1), _t(20), _t(22))
    decision = early_decision(forgotten, "t1", reopens=False)
    assert decision.verdict is EarlyVerdict.DROPPED and decision.extra == ()


def test_a_late_reset_inside_a_window_keeps_what_meets_the_delay_after_it() -> None:
    held = [_t(1, ticket="x"), _t(3, ticket="x"), _t(4, ticket="x")]
    assert straddle_verdict(held, held) is StraddleVerdict.UNCHANGED
    assert straddle_verdict([], []) is StraddleVerdict.UNCHANGED
    assert straddle_verdict(held, held[1:]) is StraddleVerdict.REGROUPED
    assert straddle_verdict(held, []) is StraddleVerdict.WITHDRAWN


def test_triggers_moved_by_a_late_reset_wait_unless_they_meet_the_delay_after_it() -> None:
    """After the reset T4 and T20 never meet the delay: they wait; T30 is not of that
    stretch (after a later reset) and moves as it was."""
    moved = (_t(4, ticket="x"), _t(20, ticket="x"), _t(30, ticket="x"))
    after: tuple[Logged, ...] = (_t(4), _t(20))
    still, waits = delayed_moves(
        moved, after, persisted(after, count=2, within=WITHIN), reopens=False
    )
    assert _ids(still) == ["t30"] and _ids(waits) == ["t4", "t20"]
    after = (_t(4), _t(6), _t(20))
    met = _met(*after)
    still, waits = delayed_moves(moved, after, met, reopens=False)
    assert _ids(still) == ["t4", "t20", "t30"] and waits == ()
    still, waits = delayed_moves(moved, after, met, reopens=True)
    assert _ids(still) == ["t20", "t30"] and _ids(waits) == ["t4"]
