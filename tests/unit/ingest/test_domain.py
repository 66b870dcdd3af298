import hashlib
from datetime import datetime

import pytest

from services.ingest.domain.alerts import (
    AlertKind,
    NormalizationError,
    NormalizedAlert,
    Severity,
    delivery_key,
    delivery_keys,
)


def _alert(event_id: str | None) -> NormalizedAlert:
    return NormalizedAlert(
        kind=AlertKind.TRIGGER,
        series_key="s",
        condition="c",
        severity=Severity.LOW,
        title="t",
        message="m",
        provider_event_id=event_id,
    )


def test_delivery_key_prefers_provider_event_id() -> None:
    assert delivery_key("int-1", "evt-9", b"{}", 0) == "evt-9"
    assert delivery_key("int-1", "evt-9", b"{}", 2) == "evt-9#2"


def test_delivery_key_hashes_integration_and_body() -> None:
    expected = hashlib.sha256(b"int-1\x00{}").hexdigest()
    assert delivery_key("int-1", None, b"{}", 0) == expected
    assert delivery_key("int-2", None, b"{}", 0) != expected
    assert delivery_key("int-1", None, b"{}", 1) != expected


def test_delivery_keys_are_unique_within_one_body() -> None:
    alerts = [_alert("a"), _alert("b"), _alert("a"), _alert(None), _alert(None)]
    keys = delivery_keys("i", b"raw", alerts)
    assert keys[:3] == ["a", "b", "a#1"]
    assert len(set(keys)) == len(keys)
    assert keys == delivery_keys("i", b"raw", alerts)


def test_alert_invariants() -> None:
    with pytest.raises(ValueError, match="aware"):
        NormalizedAlert(
            kind=AlertKind.INFO, series_key="s", condition="c", severity=Severity.INFO,
            title="t", message="m", occurred_at=datetime(2025, 1, 1),
        )  # fmt: skip
    with pytest.raises(ValueError, match="title"):
        NormalizedAlert(
            kind=AlertKind.INFO, series_key="s", condition="c", severity=Severity.INFO,
            title="t" * 1025, message="m",
        )  # fmt: skip
    alert = _alert(None)
    with pytest.raises(TypeError):
        alert.labels["x"] = "y"  # type: ignore[index]


def test_normalization_error_carries_field_and_reason() -> None:
    error = NormalizationError("missing_field", field="dedup_key", detail="required")
    assert isinstance(error, ValueError)
    assert (error.reason, error.field) == ("missing_field", "dedup_key")
    assert str(error) == "missing_field (dedup_key): required"


def test_severity_has_five_ordered_levels() -> None:
    assert [s.value for s in Severity] == [1, 2, 3, 4, 5]
    assert Severity.CRITICAL > Severity.HIGH
