from datetime import UTC, datetime

from services.ingest.domain.alerts import AlertKind, Provider, Severity

from .helpers import one

P = Provider.DATTO
UID = "9f0b3a2e-6c1d-4d2f-8e7a-1b2c3d4e5f60"


def test_webhook_variables_trigger() -> None:
    alert = one(P, "webhook_trigger.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.series_key == UID
    assert alert.source_ref == UID
    assert alert.severity is Severity.HIGH
    assert alert.raw_severity == "High"
    assert alert.device_name == "PRN-SRV-02"
    assert alert.device_id == "e2b7c1d0-4a3f-4e21-9b8c-7d6e5f4a3b21"
    assert alert.site_name == "Adatum Corp"
    assert alert.client_name == "Adatum Corp"
    assert alert.title == "Service 'Spooler' is Stopped"
    assert alert.occurred_at == datetime(2025, 3, 19, 13, 41, 15, tzinfo=UTC)


def test_webhook_variables_resolved_pairs() -> None:
    trigger = one(P, "webhook_trigger.json")
    reset = one(P, "webhook_resolved.json")
    assert reset.kind is AlertKind.RESET
    assert reset.series_key == trigger.series_key


def test_api_alert_object() -> None:
    alert = one(P, "api_alert.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.series_key == "4a8c2e10-73b5-4f6d-a1e9-0c2b4d6f8a13"
    assert alert.severity is Severity.CRITICAL
    assert alert.device_id == "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    assert alert.device_name == "SQL-01"
    assert alert.site_id == "77aa88bb-99cc-4ddd-8eee-ff0011223344"
    assert alert.site_name == "Litware Hospital"
    assert alert.condition == "disk_usage_ctx"
    assert alert.occurred_at == datetime(2025, 3, 19, 13, 41, 15, 123000, tzinfo=UTC)
    assert alert.message == "Free space on volume D: is 1.2 GB (2%)"
    assert alert.labels["diskName"] == "D:"
    assert alert.raw_fields["alertContext"]["@class"] == "disk_usage_ctx"


def test_field_mapping_for_templated_body() -> None:
    mapping = {
        "event": "kind",
        "alert_uid": "rmm.alert.ref",
        "message": "rmm.alert.text",
        "priority": "rmm.alert.level",
        "hostname": "rmm.machine.name",
        "device_id": "rmm.machine.uid",
        "client": "rmm.customer.name",
        "timestamp": "when",
    }
    alert = one(P, "templated_custom.json", field_mapping=mapping)
    assert alert.kind is AlertKind.RESET
    assert alert.series_key == "ad6f1e2b-0c3d-4e5f-8a9b-1c2d3e4f5a6b"
    assert alert.severity is Severity.MEDIUM
    assert alert.device_name == "LT-SALES-14"
    assert alert.client_name == "Tailspin Toys"
    assert alert.occurred_at == datetime(2025, 3, 19, 15, 0, tzinfo=UTC)
