from datetime import UTC, datetime

from services.ingest.domain.alerts import AlertKind, Provider, Severity

from .helpers import one

P = Provider.LEVEL
ALERT_ID = "alrt_01HQ3Z8K2M4N6P8R0T2V4X6Z8B"


def test_alert_active() -> None:
    alert = one(P, "alert_active.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.series_key == ALERT_ID
    assert alert.provider_event_id == "3f6c9b2a-1d4e-4f8a-b7c6-5e4d3c2b1a09"
    assert alert.device_id == "dev_01HPZ1A2B3C4D5E6F7G8H9J0K1"
    assert alert.device_name == "web-prod-03"
    assert alert.title == "Memory usage above 95%"
    assert alert.message == "Memory usage has been above 95% for 10 minutes (97.3%)."
    assert alert.severity is Severity.CRITICAL
    assert alert.occurred_at == datetime(2025, 3, 19, 13, 41, 15, tzinfo=UTC)
    assert alert.labels["event_type"] == "alert_active"


def test_alert_resolved_pairs_and_uses_resolved_at() -> None:
    trigger = one(P, "alert_active.json")
    reset = one(P, "alert_resolved.json")
    assert reset.kind is AlertKind.RESET
    assert reset.series_key == trigger.series_key
    assert reset.provider_event_id != trigger.provider_event_id
    assert reset.occurred_at == datetime(2025, 3, 19, 14, 4, 59, tzinfo=UTC)


def test_other_event_types_are_info() -> None:
    alert = one(P, "device_created.json")
    assert alert.kind is AlertKind.INFO
    assert alert.severity is Severity.INFO
    assert alert.condition == "device_created"
    assert alert.occurred_at == datetime(2025, 3, 19, 9, 0, tzinfo=UTC)
