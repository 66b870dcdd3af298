import json
from datetime import UTC, datetime

from services.ingest.domain.alerts import AlertKind, Provider, Severity
from services.ingest.domain.normalizers.alertmanager import fingerprint

from .helpers import body, run

P = Provider.ALERTMANAGER


def test_known_fingerprint_values() -> None:
    # Test vectors from prometheus/common model/fingerprinting tests.
    assert fingerprint({}) == f"{14695981039346656037:016x}"
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert fingerprint(labels) == f"{5799056148416392346:016x}"


def test_fingerprint_ignores_label_order() -> None:
    forward = {"alertname": "Up", "instance": "a:9100", "job": "node"}
    backward = dict(reversed(list(forward.items())))
    assert fingerprint(forward) == fingerprint(backward)
    assert len(fingerprint(forward)) == 16
    assert fingerprint(forward) != fingerprint({**forward, "job": "node2"})


def test_one_alert_per_group_member() -> None:
    firing, resolved = run(P, body(P, "group_mixed.json"))
    assert firing.kind is AlertKind.TRIGGER
    assert firing.series_key == "b1e4c2a8f03d5e67"
    assert firing.condition == "NodeFilesystemAlmostFull"
    assert firing.severity is Severity.CRITICAL
    assert firing.raw_severity == "critical"
    assert firing.device_name == "fs01:9100"
    assert firing.client_name == "Contoso Ltd"
    assert firing.title == "Filesystem / on fs01:9100 has 3% space left"
    assert firing.message.startswith("Filesystem on /dev/sda1")
    assert firing.occurred_at == datetime(2025, 3, 19, 13, 41, 15, 556000, tzinfo=UTC)
    assert "endsAt" not in firing.raw_fields
    assert firing.raw_fields["annotations"]["runbook_url"].startswith("https://")

    assert resolved.kind is AlertKind.RESET
    assert resolved.severity is Severity.MEDIUM
    assert resolved.occurred_at == datetime(2025, 3, 19, 13, 40, tzinfo=UTC)
    assert resolved.labels["job"] == "node"


def test_missing_fingerprint_is_computed_from_the_alert_labels() -> None:
    _, resolved = run(P, body(P, "group_mixed.json"))
    labels = json.loads(body(P, "group_mixed.json"))["alerts"][1]["labels"]
    assert resolved.series_key == fingerprint(labels)


def test_common_labels_sit_under_alert_labels() -> None:
    raw = json.dumps(
        {
            "commonLabels": {"severity": "warning", "team": "ops"},
            "alerts": [{"status": "firing", "labels": {"alertname": "X", "severity": "info"}}],
        }
    ).encode()
    (alert,) = run(P, raw)
    assert alert.labels == {"severity": "info", "team": "ops", "alertname": "X"}
    assert alert.severity is Severity.INFO
    assert alert.occurred_at is None
    assert alert.provider_event_id is None


def test_repeat_notification_has_the_same_event_id() -> None:
    first, _ = run(P, body(P, "group_mixed.json"))
    repeated = json.loads(body(P, "group_mixed.json"))
    repeated["alerts"] = repeated["alerts"][:1]
    (again,) = run(P, json.dumps(repeated).encode())
    assert again.provider_event_id == first.provider_event_id


def test_empty_group_yields_nothing() -> None:
    assert run(P, b'{"version": "4", "alerts": []}') == []
