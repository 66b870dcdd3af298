"""Pure rules for alerts that arrive out of occurrence order: splits, replays, late resets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.tickets.domain.alerts import (
    AlertKind,
    ResetOrigin,
    ResetVerdict,
    RoutedActions,
    RoutedAlert,
)
from services.tickets.domain.order import (
    Logged,
    fresh_ticket_decision,
    logged,
    persisted,
    position,
    replay_reset,
    split_at,
    split_off,
    without_moved,
)
from services.tickets.domain.tickets import CloseReason, Priority, Status, Ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _entry(
    kind: AlertKind, minutes: int, *, series: str = "s", seq: int = 0, ticket: str | None = "x"
) -> Logged:
    return Logged(
        series_key=series,
        alert_id=f"{kind.name}-{series}-{minutes}-{seq}",
        kind=kind,
        occurred_at=_at(minutes),
        sequence=seq,
        ticket_id=ticket,
    )


def _ticket(**fields: Any) -> Ticket:
    base = Ticket(
        id="x",
        tenant_id="t",
        number=7,
        title="disk low",
        dedup_key="t/dev/disk",
        occurrence_count=4,
        first_occurrence_at=_at(1),
        last_occurrence_at=_at(5),
        linked_series_keys=("s",),
        close_on_reset=True,
        reset_in_rmm_on_close=True,
        priority=Priority.P1,
        status=Status.CLOSED,
        human_touched=True,
        close_reason=CloseReason.ALERT_RESET,
        reopen_count=2,
        created_at=T0,
        closed_at=NOW,
        version=9,
    )
    return replace(base, **fields)


def _alert(kind: AlertKind, minutes: int, *, close_on_reset: bool | None = None) -> RoutedAlert:
    return RoutedAlert(
        alert_id="a",
        tenant_id="t",
        kind=kind,
        series_key="s",
        sequence=3,
        occurred_at=_at(minutes),
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
            close_on_reset=close_on_reset,
            reset_in_rmm_on_close=None,
        ),
    )


TRIGGER, RESET = AlertKind.TRIGGER, AlertKind.RESET


def test_split_moves_only_the_series_triggers_after_the_reset() -> None:
    entries = [
        _entry(TRIGGER, 1),
        _entry(TRIGGER, 2),
        _entry(TRIGGER, 4),
        _entry(TRIGGER, 4, series="other"),
        _entry(RESET, 9),
        _entry(TRIGGER, 5),
        _entry(RESET, 6),
    ]
    split = split_at(entries, series_key="s", at=(_at(3), 0))
    assert [e.occurred_at for e in split.moved] == [_at(4), _at(5)]
    assert [(e.series_key, e.occurred_at) for e in split.kept] == [
        ("s", _at(1)),
        ("s", _at(2)),
        ("other", _at(4)),
    ]
    assert [e.occurred_at for e in split.later_resets] == [_at(6), _at(9)]
    assert split.last_kept == _at(4)


def test_split_orders_one_instant_by_sequence() -> None:
    entries = [_entry(TRIGGER, 3, seq=1), _entry(TRIGGER, 3, seq=5)]
    split = split_at(entries, series_key="s", at=(_at(3), 2))
    assert [e.sequence for e in split.kept] == [1]
    assert [e.sequence for e in split.moved] == [5]


def test_the_old_ticket_keeps_its_earlier_occurrences() -> None:
    entries = [_entry(TRIGGER, m) for m in (1, 2, 4, 5)]
    split = split_at(entries, series_key="s", at=(_at(3), 0))
    kept = without_moved(_ticket(), split, logged_triggers=4, now=NOW)
    assert (kept.occurrence_count, kept.first_occurrence_at, kept.last_occurrence_at) == (
        2,
        _at(1),
        _at(2),
    )
    assert (kept.version, kept.updated_at, kept.closed_at) == (10, NOW, NOW)


def test_occurrences_from_before_the_log_count_as_earlier() -> None:
    entries = [_entry(TRIGGER, 2), _entry(TRIGGER, 4)]
    split = split_at(entries, series_key="s", at=(_at(3), 0))
    kept = without_moved(_ticket(first_occurrence_at=T0), split, logged_triggers=2, now=NOW)
    assert (kept.occurrence_count, kept.first_occurrence_at, kept.last_occurrence_at) == (
        3,
        T0,
        _at(2),
    )


def test_the_split_off_ticket_is_new_open_and_untouched() -> None:
    entries = [_entry(TRIGGER, m) for m in (1, 4, 5)]
    split = split_at(entries, series_key="s", at=(_at(3), 0))
    moved = split_off(_ticket(), split, ticket_id="y", number=8, now=NOW)
    assert (moved.id, moved.number, moved.status, moved.is_open) == ("y", 8, Status.NEW, True)
    assert (moved.occurrence_count, moved.first_occurrence_at, moved.last_occurrence_at) == (
        2,
        _at(4),
        _at(5),
    )
    assert not moved.human_touched and moved.reopen_count == 0
    assert moved.close_reason is CloseReason.UNSPECIFIED
    assert (moved.dedup_key, moved.priority, moved.linked_series_keys) == (
        "t/dev/disk",
        Priority.P1,
        ("s",),
    )


def test_a_replayed_reset_keeps_its_rule_override() -> None:
    untouched = _ticket(human_touched=False)
    entry = logged(_alert(RESET, 6, close_on_reset=False), "x", ResetOrigin.RMM_RESET)
    assert replay_reset(entry, untouched, last_occurrence_at=_at(5)).verdict is (
        ResetVerdict.KEEP_RULE
    )
    entry = logged(_alert(RESET, 6), "x", ResetOrigin.INACTIVE)
    decision = replay_reset(entry, untouched, last_occurrence_at=_at(5))
    assert decision.closes and decision.close_reason is CloseReason.ALERT_INACTIVE
    assert decision.reset_alert  # found inactive: the RMM still shows it


def test_a_reset_on_the_ticket_a_late_trigger_opens() -> None:
    reset = logged(_alert(RESET, 6), None, ResetOrigin.RMM_RESET)
    assert fresh_ticket_decision(reset, _alert(TRIGGER, 2)).closes
    keeping = _alert(TRIGGER, 2, close_on_reset=False)
    assert fresh_ticket_decision(reset, keeping).verdict is ResetVerdict.KEEP_RULE
    overriding = logged(_alert(RESET, 6, close_on_reset=True), None, ResetOrigin.RMM_RESET)
    assert fresh_ticket_decision(overriding, keeping).closes


def test_log_entries_keep_a_reset_overrides_and_a_trigger_none() -> None:
    reset = logged(_alert(RESET, 6, close_on_reset=False), None, ResetOrigin.INACTIVE)
    assert (reset.close_on_reset, reset.origin, reset.position) == (False, "inactive", (_at(6), 3))
    trigger = logged(_alert(TRIGGER, 2, close_on_reset=False), "x")
    assert (trigger.close_on_reset, trigger.origin, trigger.ticket_id) == (None, "", "x")
    assert position(_alert(TRIGGER, 2)) == (_at(2), 3)


def test_a_persistence_delay_replayed_over_a_stretch() -> None:
    """2 triggers in 10 minutes: the first pair within the span meets it; older triggers
    are forgotten; a ticket that opens counts its window, one that reopens its trigger."""
    within = timedelta(minutes=10)
    t = [_entry(AlertKind.TRIGGER, m, seq=i, ticket=None) for i, m in enumerate((1, 15, 16, 17))]
    met = persisted(list(reversed(t)), count=2, within=within)
    assert met is not None
    assert met.window == (t[1], t[2])
    assert met.after == (t[3],)
    assert met.counted(reopens=False) == (t[1], t[2], t[3])
    assert met.counted(reopens=True) == (t[2], t[3])
    assert persisted([t[0], t[1]], count=2, within=within) is None
    assert persisted([t[0]], count=1, within=within) is not None
