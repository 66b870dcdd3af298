from datetime import UTC, datetime

from services.ingest.domain.alerts import AlertKind, Provider, Severity

from .helpers import one

P = Provider.NINJAONE


def test_condition_trigger_fields() -> None:
    alert = one(P, "condition_triggered.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.series_key == "5d5b7c4e-8a1f-4a51-9a3e-3c1d2b6f7e90"
    assert alert.provider_event_id == "2041337"
    assert alert.device_id == "42"
    assert alert.device_name == "FS01"
    assert (alert.client_id, alert.client_name) == ("7", "Contoso Ltd")
    assert (alert.site_id, alert.site_name) == ("12", "Head Office")
    assert alert.condition == "b1f6c1a2-55d2-4e0b-9c6f-0d8d2f3b4a11"
    assert alert.severity is Severity.HIGH
    assert alert.raw_severity == "MAJOR"
    assert alert.title == "Disk space on C: is below 10% on FS01"
    assert "Volume C:\\ has 4.2 GB free" in alert.message
    assert alert.occurred_at == datetime(2025, 3, 19, 13, 41, 15, 556000, tzinfo=UTC)
    assert alert.labels["activityType"] == "CONDITION"
    assert alert.labels["nodeClass"] == "WINDOWS_SERVER"
    assert alert.raw_fields["data"]["message"]["code"] == "CONDITION_DISK_FREE_SPACE"


def test_reset_pairs_with_trigger_despite_new_activity_id() -> None:
    trigger = one(P, "condition_triggered.json")
    reset = one(P, "condition_reset.json")
    assert reset.kind is AlertKind.RESET
    assert reset.provider_event_id != trigger.provider_event_id
    assert reset.series_key == trigger.series_key
    assert reset.condition == trigger.condition


def test_without_series_uid_pairs_on_device_and_source_config() -> None:
    trigger = one(P, "no_series_triggered.json")
    reset = one(P, "no_series_reset.json")
    assert trigger.series_key == "device:99:c0ffee00-1111-2222-3333-444455556666"
    assert reset.series_key == trigger.series_key
    assert "3100001" not in trigger.series_key
    assert trigger.occurred_at == datetime(2025, 3, 19, 13, 41, 15, tzinfo=UTC)
    assert trigger.severity is Severity.MEDIUM
    assert trigger.raw_severity == "MEDIUM"
    assert trigger.device_name is None


def test_system_activity_without_device_is_info() -> None:
    alert = one(P, "system_activity.json")
    assert alert.kind is AlertKind.INFO
    assert alert.device_id is None
    assert alert.title == "API access token created for client 'psa-sync'"
    assert alert.condition == "SYSTEM:SYSTEM"
    assert alert.severity is Severity.INFO
