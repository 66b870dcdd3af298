import json
from datetime import UTC, datetime

from services.ingest.domain.alerts import AlertKind, Provider, Severity

from .helpers import body, one, run

P = Provider.TACTICALRMM
AGENT = "YhCkZbSbVbRJkHnqSywQpbhvpSwTCXHxRTUPbswO"


def test_check_failure_fields() -> None:
    alert = one(P, "check_failure.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.series_key == f"{AGENT}:1873"
    assert alert.condition == "check:412"
    assert alert.device_id == AGENT
    assert alert.device_name == "WS-ACCT-07"
    assert alert.client_name == "Fabrikam Inc"
    assert alert.site_name == "Main Office"
    assert alert.severity is Severity.HIGH
    assert alert.raw_severity == "error"
    assert alert.occurred_at == datetime(2025, 3, 19, 13, 41, 15, 556209, tzinfo=UTC)
    assert alert.source_ref == "1873"
    assert "resolved_on" not in alert.labels
    assert alert.labels["snoozed"] == "False"


def test_resolved_pairs_with_failure_and_uses_resolved_time() -> None:
    trigger = one(P, "check_failure.json")
    reset = one(P, "check_resolved.json")
    assert reset.kind is AlertKind.RESET
    assert reset.series_key == trigger.series_key
    assert reset.occurred_at == datetime(2025, 3, 19, 14, 2, 47, 120033, tzinfo=UTC)


def test_json_string_body_is_decoded_twice() -> None:
    alert = one(P, "string_body.json")
    assert alert.kind is AlertKind.TRIGGER
    assert alert.device_name == "SRV-DC01"
    assert alert.site_name is None
    assert alert.condition == "availability"
    assert alert.series_key == "pQmWfGtKcZrLdNsBvXyTuEoIaHjPlMkQwErTyUiO:1901"


def test_resolved_on_without_event_field_means_reset() -> None:
    reset = one(P, "availability_no_event.json")
    trigger = one(P, "string_body.json")
    assert reset.kind is AlertKind.RESET
    assert reset.series_key == trigger.series_key
    assert reset.site_name is None


def test_unparseable_inner_string_keeps_text_as_message() -> None:
    alert = one(P, "broken_string_body.json")
    assert alert.kind is AlertKind.TRIGGER
    assert 'Task "Nightly Backup" failed: C:\\Scripts\\backup.ps1' in alert.message
    assert alert.device_name == "WS-LAB-03"
    assert alert.series_key == "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD:1922"
    assert alert.severity is Severity.MEDIUM


def test_unparseable_inner_string_without_ids_is_keyed_on_a_hash() -> None:
    raw = b'"this is {not json at all"'
    first, again = run(P, raw)[0], run(P, raw)[0]
    assert first.series_key.startswith("-:h")
    assert first.series_key == again.series_key
    assert first.message == "this is {not json at all"


def test_field_mapping_overrides_known_spellings() -> None:
    raw = b'{"evt": "resolved", "a": {"b": "HOST-9"}, "hostname": "ignored"}'
    (alert,) = run(P, raw, field_mapping={"event": "evt", "hostname": "a.b"})
    assert alert.kind is AlertKind.RESET
    assert alert.device_name == "HOST-9"


def test_body_file_is_a_json_string() -> None:
    assert body(P, "string_body.json").startswith(b'"{')


def test_doubly_encoded_string_body() -> None:
    inner = json.dumps({"event": "resolved", "agent_id": "A", "alert_id": "7"})
    (alert,) = run(P, json.dumps(json.dumps(inner)).encode())
    assert (alert.kind, alert.series_key) == (AlertKind.RESET, "A:7")


def test_bodies_without_ids_or_message_do_not_share_a_series() -> None:
    (first,) = run(P, b'{"hostname": "", "foo": "1"}')
    (second,) = run(P, b'{"hostname": "", "foo": "2"}')
    assert first.series_key != second.series_key
