from datetime import UTC, datetime

import orjson

from services.ingest.domain.alerts import AlertKind, Provider, Severity, delivery_keys

from .helpers import body, one, run

P = Provider.HUNTRESS


def test_incident_created_is_a_trigger_with_organization_and_agent() -> None:
    alert = one(P, "incident_created.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.series_key == "incident_report:48213"
    assert alert.condition == "incident_report:48213"
    assert alert.severity is Severity.CRITICAL
    assert alert.raw_severity == "critical"
    assert (alert.client_id, alert.client_name) == ("3307", "Contoso Dental")
    assert alert.device_id == "551902"
    assert alert.source_ref == "48213"
    assert alert.title == "CRITICAL - Incident on RECEPTION-02 (Contoso Dental)"
    assert alert.message.startswith("Malicious scheduled task found")
    assert "persistent foothold" in alert.message
    assert alert.occurred_at == datetime(2025, 3, 19, 13, 41, 15, tzinfo=UTC)
    assert alert.labels["platform"] == "windows"
    assert alert.labels["organization"] == "Contoso Dental"
    assert alert.raw_fields["indicator_counts"] == {"footholds": 1, "process_detections": 2}


def test_closed_incident_resets_the_same_series_at_its_close_time() -> None:
    trigger = one(P, "incident_created.json")
    reset = one(P, "incident_closed.json")
    assert reset.kind is AlertKind.RESET
    assert reset.series_key == trigger.series_key
    assert reset.condition == trigger.condition
    assert reset.occurred_at == datetime(2025, 3, 19, 15, 2, 47, tzinfo=UTC)
    assert reset.provider_event_id != trigger.provider_event_id


def test_redelivered_event_has_the_same_delivery_key() -> None:
    first = one(P, "incident_created.json")
    changed = orjson.loads(body(P, "incident_created.json"))
    changed["updated_at"] = "2025-03-19T13:45:00Z"
    again = run(P, orjson.dumps(changed))
    assert delivery_keys("i", b"a", [first]) == delivery_keys("i", b"b", again)


def test_polled_report_without_event_type_reads_status_and_organization_id() -> None:
    alert = one(P, "m365_low_polled.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.severity is Severity.LOW
    assert alert.client_id == "3310"
    assert alert.client_name is None
    assert alert.device_id is None
    assert alert.labels["indicator_types"] == "managed_identity"
    assert alert.message == "Sign-in to mailbox finance@fabrikam.example from an unusual country."


def test_polled_report_closed_or_dismissed_is_a_reset() -> None:
    report = orjson.loads(body(P, "m365_low_polled.json"))
    for status in ("closed", "dismissed", "partner_dismissed"):
        (alert,) = run(P, orjson.dumps({**report, "status": status}))
        assert alert.kind is AlertKind.RESET, status


def test_comment_is_info_on_the_incident_series() -> None:
    alert = one(P, "comment_added.json")
    assert alert.kind is AlertKind.INFO
    assert alert.series_key == "incident_report:48213"
    assert alert.provider_event_id is None


def test_other_events_keep_their_own_series() -> None:
    (alert,) = run(P, b'{"event_type": "escalation.created", "id": 77, "subject": "Approve"}')
    assert alert.kind is AlertKind.INFO
    assert alert.series_key == "escalation.created:77"
    assert alert.source_ref is None


def test_unknown_severity_of_a_trigger_defaults_high() -> None:
    (alert,) = run(P, b'{"event_type": "incident_report.created", "id": 5, "severity": null}')
    assert alert.severity is Severity.HIGH
    assert alert.title == "Huntress incident_report.created"
