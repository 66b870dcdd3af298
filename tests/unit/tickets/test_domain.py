"""The pure ticket rules: status machine, human touch, dedup, triggers, resets, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tickets.domain.alerts import (
    RESET_ORIGIN_LABEL,
    ResetDecision,
    ResetOrigin,
    ResetVerdict,
    TriggerAction,
    decide_reset,
    decide_trigger,
    is_superseded,
    occurrence_comment,
    occurrence_comment_due,
    persistence_met,
    reopenable,
    reset_origin,
)
from services.tickets.domain.tickets import (
    AuthorKind,
    Cause,
    CloseReason,
    Damping,
    Priority,
    Status,
    StatusPlan,
    TenantSettings,
    Ticket,
    TransitionError,
    closing_status,
    comment_touches,
    condition_identity,
    dedup_key,
    diff,
    escalated_priority,
    is_human_touch,
    plan_status_change,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEFAULTS = TenantSettings()


@pytest.mark.parametrize(
    ("current", "target", "is_open", "expected"),
    [
        (Status.NEW, Status.OPEN, True, StatusPlan.SET),
        (Status.OPEN, Status.OPEN, True, StatusPlan.NOOP),
        (Status.IN_PROGRESS, Status.RESOLVED, True, StatusPlan.CLOSE),
        (Status.IN_PROGRESS, Status.CLOSED, True, StatusPlan.CLOSE),
        (Status.OPEN, Status.AWAITING_CUSTOMER, True, StatusPlan.SET),
        (Status.CLOSED, Status.CLOSED, False, StatusPlan.NOOP),
    ],
)
def test_status_plan(current: Status, target: Status, is_open: bool, expected: StatusPlan) -> None:
    assert plan_status_change(current, target, is_open=is_open, settings=DEFAULTS) is expected


@pytest.mark.parametrize(
    ("current", "target", "is_open"),
    [
        (Status.OPEN, Status.UNSPECIFIED, True),
        (Status.OPEN, Status.NEW, True),
        (Status.CLOSED, Status.OPEN, False),
    ],
)
def test_status_plan_refuses(current: Status, target: Status, is_open: bool) -> None:
    with pytest.raises(TransitionError):
        plan_status_change(current, target, is_open=is_open, settings=DEFAULTS)


def test_tenant_decides_which_statuses_close_and_pause() -> None:
    strict = TenantSettings(closed_statuses=frozenset({Status.CLOSED}))
    assert (
        plan_status_change(Status.OPEN, Status.RESOLVED, is_open=True, settings=strict)
        is StatusPlan.SET
    )
    assert DEFAULTS.pauses_sla(Status.AWAITING_CUSTOMER)
    assert not DEFAULTS.pauses_sla(Status.IN_PROGRESS)
    assert closing_status(Status.RESOLVED, DEFAULTS) is Status.RESOLVED
    assert closing_status(None, DEFAULTS) is Status.CLOSED


@pytest.mark.parametrize(
    ("cause", "paths", "touched"),
    [
        (Cause.HUMAN, ["status"], True),
        (Cause.HUMAN, ["priority"], True),
        (Cause.HUMAN, ["assignee"], True),
        (Cause.HUMAN, ["title", "queue"], False),
        (Cause.RULE, ["assignee", "queue"], False),
        (Cause.SLA_ESCALATION, ["priority", "assignee"], False),
        (Cause.SYSTEM, ["status"], False),
    ],
)
def test_human_touch(cause: Cause, paths: list[str], touched: bool) -> None:
    assert is_human_touch(cause, paths) is touched


def test_comments_touch_only_when_a_person_writes() -> None:
    assert comment_touches(AuthorKind.HUMAN)
    assert not comment_touches(AuthorKind.SYSTEM)


def test_dedup_key_prefers_device_id_then_lowercased_name() -> None:
    assert dedup_key(tenant_id="t", device_id="42", device_name="SRV", condition="c") == ("t/42/c")
    assert dedup_key(tenant_id="t", device_id="", device_name=" SRV-1 ", condition="c") == (
        "t/srv-1/c"
    )
    assert condition_identity(condition="", condition_name="Disk", series_key="s") == "Disk"
    assert condition_identity(condition="", condition_name="", series_key="s") == "s"


def test_superseded_compares_time_then_sequence() -> None:
    assert is_superseded(occurred_at=T0, sequence=0, reset_at=T0 + timedelta(1), reset_sequence=0)
    assert not is_superseded(
        occurred_at=T0 + timedelta(seconds=1), sequence=1, reset_at=T0, reset_sequence=9
    )
    assert is_superseded(occurred_at=T0, sequence=3, reset_at=T0, reset_sequence=4)
    assert not is_superseded(occurred_at=T0, sequence=5, reset_at=T0, reset_sequence=4)
    assert not is_superseded(occurred_at=T0, sequence=0, reset_at=T0, reset_sequence=4)


def test_persistence_counts_triggers_in_the_window() -> None:
    within = timedelta(minutes=10)
    times = [T0, T0 + timedelta(minutes=20), T0 + timedelta(minutes=22)]
    now = T0 + timedelta(minutes=22)
    assert not persistence_met(times, now=now, count=3, within=within)
    assert persistence_met(
        [*times, T0 + timedelta(minutes=25)], now=T0 + timedelta(minutes=25), count=3, within=within
    )
    assert persistence_met([], now=now, count=1, within=within)


@pytest.mark.parametrize(
    ("wants", "superseded", "open_", "persistence", "reopen", "expected"),
    [
        (False, False, True, True, False, TriggerAction.IGNORE),
        (True, True, True, True, False, TriggerAction.SUPERSEDED),
        (True, False, True, False, True, TriggerAction.OCCUR),
        (True, False, False, False, False, TriggerAction.WAIT),
        (True, False, False, True, True, TriggerAction.REOPEN),
        (True, False, False, True, False, TriggerAction.OPEN),
    ],
)
def test_trigger_decision(
    wants: bool,
    superseded: bool,
    open_: bool,
    persistence: bool,
    reopen: bool,
    expected: TriggerAction,
) -> None:
    assert (
        decide_trigger(
            wants_ticket=wants,
            superseded=superseded,
            has_open_ticket=open_,
            persistence_ok=persistence,
            reopenable=reopen,
        )
        is expected
    )


def test_reopen_only_within_the_tenants_interval() -> None:
    settings = TenantSettings(reopen_within=timedelta(hours=1))
    assert reopenable(T0, occurred_at=T0 + timedelta(minutes=59), settings=settings)
    assert not reopenable(T0, occurred_at=T0 + timedelta(minutes=61), settings=settings)
    undamped = TenantSettings(damping=Damping(enabled=False))
    assert not reopenable(T0, occurred_at=T0, settings=undamped)
    assert not reopenable(None, occurred_at=T0, settings=settings)


def test_damping_reopens_within_its_window_by_default() -> None:
    # Flap damping (on by default) reopens a ticket closed up to its window (30 min) ago.
    assert DEFAULTS.reopen_window == timedelta(minutes=30)
    assert reopenable(T0, occurred_at=T0 + timedelta(minutes=30), settings=DEFAULTS)
    assert not reopenable(T0, occurred_at=T0 + timedelta(minutes=31), settings=DEFAULTS)
    longer = TenantSettings(reopen_within=timedelta(hours=2))
    assert longer.reopen_window == timedelta(hours=2)
    # Damping reopens the ticket of the same series only; reopen_within any of the key.
    other = {"occurred_at": T0 + timedelta(minutes=5), "same_series": False}
    assert not reopenable(T0, settings=DEFAULTS, **other)  # type: ignore[arg-type]
    assert reopenable(T0, settings=longer, **other)  # type: ignore[arg-type]


def test_occurrence_comments_coalesce() -> None:
    interval = timedelta(minutes=10)
    assert occurrence_comment_due(None, occurred_at=T0, interval=interval)
    assert not occurrence_comment_due(T0, occurred_at=T0 + timedelta(minutes=9), interval=interval)
    assert occurrence_comment_due(T0, occurred_at=T0 + timedelta(minutes=10), interval=interval)
    assert occurrence_comment(count=1, since=None, total=2) == (
        "The alert occurred 1 more time (2 in total)."
    )


def _reset(**overrides: object) -> ResetDecision:
    args: dict[str, object] = {
        "origin": ResetOrigin.RMM_RESET,
        "reset_at": T0 + timedelta(minutes=5),
        "last_occurrence_at": T0,
        "close_on_reset": True,
        "human_touched": False,
        "reset_in_rmm_on_close": True,
        "series_key": "i:s",
    }
    args.update(overrides)
    return decide_reset(**args)  # type: ignore[arg-type]


def test_reset_decision_table() -> None:
    untouched = _reset()
    assert untouched.closes and untouched.close_reason is CloseReason.ALERT_RESET
    assert not untouched.reset_alert
    assert "reset in the RMM" in untouched.comment
    assert _reset(human_touched=True).verdict is ResetVerdict.KEEP_TOUCHED
    assert _reset(close_on_reset=False).verdict is ResetVerdict.KEEP_RULE
    assert _reset(last_occurrence_at=T0 + timedelta(minutes=6)).verdict is ResetVerdict.KEEP_REFIRED
    inactive = _reset(origin=ResetOrigin.INACTIVE)
    assert inactive.closes and inactive.reset_alert
    assert inactive.close_reason is CloseReason.ALERT_INACTIVE
    assert "no longer active" in inactive.comment
    assert not _reset(origin=ResetOrigin.INACTIVE, reset_in_rmm_on_close=False).reset_alert


def test_reset_origin_from_labels() -> None:
    assert reset_origin({}) is ResetOrigin.RMM_RESET
    assert reset_origin({RESET_ORIGIN_LABEL: "Inactive"}) is ResetOrigin.INACTIVE
    assert reset_origin({RESET_ORIGIN_LABEL: "source_sending"}) is ResetOrigin.SOURCE_SENDING


def test_a_silent_source_sending_again_says_so() -> None:
    heard = _reset(origin=ResetOrigin.SOURCE_SENDING)
    assert heard.closes and heard.close_reason is CloseReason.ALERT_RESET
    assert "sending again" in heard.comment
    assert "reset in the RMM" not in heard.comment
    # There is no alert in the RMM to reset.
    assert not heard.reset_alert


@pytest.mark.parametrize(
    ("current", "target", "levels", "expected"),
    [
        (Priority.P3, Priority.P1, 0, Priority.P1),
        (Priority.P1, Priority.P3, 0, Priority.P1),
        (Priority.P3, Priority.UNSPECIFIED, 1, Priority.P2),
        (Priority.P2, Priority.UNSPECIFIED, 5, Priority.P1),
        (Priority.P4, Priority.UNSPECIFIED, 0, Priority.P4),
    ],
)
def test_escalation_never_lowers_priority(
    current: Priority, target: Priority, levels: int, expected: Priority
) -> None:
    assert escalated_priority(current, target=target, raise_levels=levels) is expected


def test_diff_renders_enums_by_name() -> None:
    before = Ticket(id="1", tenant_id="t", number=1, title="a")
    after = Ticket(id="1", tenant_id="t", number=1, title="b", priority=Priority.P1)
    changes = diff(before, after, ["title", "priority", "queue"])
    assert [(c.field_path, c.before, c.after) for c in changes] == [
        ("title", "a", "b"),
        ("priority", "P3", "P1"),
    ]
