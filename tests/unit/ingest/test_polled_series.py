"""A polled integration's webhook alerts matched with the triggers polling created."""

from __future__ import annotations

from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Severity
from services.ingest.domain.polled_series import match_polled, with_series

POLLED = {"device:42:cfg-1": "alert-1"}


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
