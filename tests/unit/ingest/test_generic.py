from datetime import UTC, datetime

import pytest

from services.ingest.domain.alerts import AlertKind, NormalizationError, Provider, Severity

from .helpers import body, one, run

P = Provider.GENERIC


def test_trigger_fields() -> None:
    alert = one(P, "trigger.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.series_key == "backup/nas01/nightly"
    assert alert.device_id == alert.device_name == "nas01.contoso.local"
    assert alert.severity is Severity.HIGH
    assert alert.raw_severity == "error"
    assert alert.condition == "backup_failure"
    assert alert.title == "Nightly backup of NAS01 failed: share \\\\nas01\\backups unreachable"
    assert '"exit_code": 3' in alert.message
    assert alert.occurred_at == datetime(2025, 3, 19, 1, 15, tzinfo=UTC)
    assert alert.labels["component"] == "backup-agent"
    assert alert.labels["job"] == "nightly-full"
    assert alert.labels["client"] == "Veeam B&R"
    assert "routing_key" not in alert.raw_fields


@pytest.mark.parametrize(
    ("name", "kind"),
    [("acknowledge.json", AlertKind.ACKNOWLEDGE), ("resolve.json", AlertKind.RESET)],
)
def test_follow_ups_pair_on_dedup_key(name, kind):
    alert = one(P, name)
    assert alert.kind is kind
    assert alert.series_key == one(P, "trigger.json").series_key


def test_trigger_without_dedup_key_derives_a_stable_one() -> None:
    first = one(P, "trigger_no_dedup_key.json")
    second = one(P, "trigger_no_dedup_key.json")
    assert first.series_key.startswith("derived:")
    assert first.series_key == second.series_key
    assert first.severity is Severity.CRITICAL


def test_resolve_without_dedup_key_is_rejected() -> None:
    with pytest.raises(NormalizationError) as info:
        run(P, body(P, "resolve_no_dedup_key.json"))
    assert info.value.field == "dedup_key"


def test_unknown_event_action_is_rejected() -> None:
    with pytest.raises(NormalizationError) as info:
        run(P, b'{"event_action": "explode", "dedup_key": "x"}')
    assert info.value.field == "event_action"
