"""A polled integration's webhook alerts matched with the triggers polling created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Severity
from services.ingest.domain.polled_series import (
    ClosedPolled,
    closed_by_key,
    link_since,
    match_polled,
    unlinked_triggers,
    with_series,
)

POLLED = {"device:42:cfg-1": "alert-1"}
RESET_AT = datetime(2025, 3, 19, 13, 46, tzinfo=UTC)
CLOSED = ClosedPolled(
    alert_id="alert-1",
    series_key="device:42:cfg-1",
    device_id="42",
    condition="cfg-1",
    reset_at=RESET_AT,
)


def test_a_late_trigger_is_a_duplicate_and_a_reset_joins_the_polled_series() -> None:
    match = match_polled(
        [
            (AlertKind.TRIGGER, "device:42:cfg-1"),
            (AlertKind.RESET, "device:42:cfg-1"),
            (AlertKind.RESET, "device:42:cfg-2"),
            (AlertKind.INFO, "device:42:cfg-1"),
            (AlertKind.TRIGGER, None),
        ],
        polled_open=POLLED,
        moved=set(),
    )
    assert match.duplicate_of == {0: "alert-1"}
    assert match.joins == {1: "alert-1"}


def test_a_trigger_after_the_series_moved_on_is_stored_in_the_polled_series() -> None:
    match = match_polled(
        [(AlertKind.TRIGGER, "device:42:cfg-1")], polled_open=POLLED, moved={"device:42:cfg-1"}
    )
    assert match.duplicate_of == {}
    assert match.joins == {0: "alert-1"}


def test_with_series_changes_only_the_series() -> None:
    alert = NormalizedAlert(
        kind=AlertKind.RESET,
        series_key="s-1",
        condition="cfg-1",
        severity=Severity.INFO,
        title="Reset",
        message="Condition reset",
        device_id="42",
        labels={"a": "b"},
    )
    joined = with_series(alert, "device:42:cfg-1")
    assert joined.series_key == "device:42:cfg-1"
    assert (joined.condition, joined.device_id, dict(joined.labels)) == ("cfg-1", "42", {"a": "b"})
    assert with_series(alert, "s-1") is alert


def test_a_trigger_older_than_the_reset_of_a_closed_polled_series_joins_it() -> None:
    key = "device:42:cfg-1"
    match = match_polled(
        [
            (AlertKind.TRIGGER, key),
            (AlertKind.TRIGGER, key),
            (AlertKind.TRIGGER, key),
            (AlertKind.RESET, key),
            (AlertKind.TRIGGER, "device:42:cfg-2"),
        ],
        polled_open={},
        moved=set(),
        closed={key: CLOSED},
        occurred=[
            RESET_AT - timedelta(minutes=5),
            RESET_AT + timedelta(seconds=1),
            None,
            RESET_AT - timedelta(minutes=5),
            RESET_AT - timedelta(minutes=5),
        ],
    )
    # A late trigger joins; a later firing, a trigger without a time, a reset (of a new
    # firing) and another condition keep their own series.
    assert match.duplicate_of == {}
    assert match.joins == {0: "alert-1"}


def test_an_open_polled_trigger_comes_before_a_closed_one() -> None:
    match = match_polled(
        [(AlertKind.TRIGGER, "device:42:cfg-1")],
        polled_open={"device:42:cfg-1": "alert-2"},
        moved=set(),
        closed={"device:42:cfg-1": CLOSED},
        occurred=[RESET_AT - timedelta(minutes=5)],
    )
    assert match.duplicate_of == {0: "alert-2"}
    assert match.joins == {}


def test_closed_polled_series_by_reconcile_key_the_last_reset_wins() -> None:
    older = ClosedPolled(
        alert_id="alert-0",
        series_key="device:42:cfg-1",
        device_id="42",
        condition="cfg-1",
        reset_at=RESET_AT - timedelta(hours=1),
    )
    other = ClosedPolled(
        alert_id="alert-9", series_key="x", device_id="7", condition="cfg-3", reset_at=RESET_AT
    )
    found = closed_by_key("ninjaone", [older, CLOSED, other])
    assert found == {"device:42:cfg-1": CLOSED, "device:7:cfg-3": other}
    assert closed_by_key("datto", [other]) == {"x": other}


def test_the_link_lasts_one_grace_period_of_the_poll_interval() -> None:
    now = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    assert link_since(now, {}) == now - timedelta(minutes=15)
    assert link_since(now, {"poll_interval": "1800s"}) == now - timedelta(minutes=30)
    # Never shorter than 5 minutes (the shortest interval and grace).
    assert link_since(now, {"poll_interval": "60s"}) == now - timedelta(minutes=5)


def test_only_triggers_outside_polled_open_look_for_closed_series() -> None:
    polled = {"device:42:cfg-1": "alert-1"}
    assert not unlinked_triggers([(AlertKind.TRIGGER, "device:42:cfg-1")], polled)
    assert not unlinked_triggers([(AlertKind.RESET, "device:42:cfg-2")], polled)
    assert not unlinked_triggers([(AlertKind.TRIGGER, None)], polled)
    assert unlinked_triggers([(AlertKind.TRIGGER, "device:42:cfg-2")], polled)
