"""Issue 14 regressions at the domain: storable text whatever the sender put in a key or
a value, and delivery keys that hash a body once, not once per alert."""

from __future__ import annotations

import hashlib
import types
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from services.ingest.convert import record_to_proto
from services.ingest.domain import alerts as domain
from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Provider, Severity
from services.ingest.domain.records import AlertRecord, RawBody
from tests.unit.ingest.helpers import run

BODIES = {
    Provider.DATTO: b'{"alert_uid":"r1","alert_message":"m","k\\u0000":"x"}',
    Provider.GENERIC: (
        b'{"event_action":"trigger","dedup_key":"r5","payload":{"summary":"s",'
        b'"custom_details":{"\\ud800":"v"}}}'
    ),
    Provider.ALERTMANAGER: b'{"alerts":[{"status":"firing","labels":{"alertname":"\\ud800"}}]}',
}


def _storable(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _texts(alert: NormalizedAlert) -> list[str]:
    values = [alert.series_key, alert.condition, alert.title, alert.message]
    values += [v for v in (alert.provider_event_id, alert.device_id, alert.device_name) if v]
    return [*values, *alert.labels.keys(), *alert.labels.values()]


def _record(alert: NormalizedAlert) -> AlertRecord:
    return AlertRecord(
        alert_id="0190f3a0-0000-7000-8000-000000000001",
        tenant_id="0190f3a0-0000-7000-8000-000000000002",
        integration_id="0190f3a0-0000-7000-8000-000000000003",
        provider="generic",
        delivery_key="k",
        received_at=datetime(2025, 1, 1, tzinfo=UTC),
        content_type=None,
        body=RawBody(id="0190f3a0-0000-7000-8000-000000000004", raw=b"{}"),
        alert=alert,
    )


@pytest.mark.parametrize("provider", list(BODIES))
def test_nul_and_lone_surrogates_in_keys_and_values_come_out_storable(provider: Provider) -> None:
    alerts = run(provider, BODIES[provider])
    assert alerts
    for alert in alerts:
        assert all(_storable(t) for t in _texts(alert)), _texts(alert)
        record_to_proto(_record(alert)).SerializeToString()


def test_an_alert_never_holds_unstorable_text_and_keeps_its_keys_nonempty() -> None:
    alert = NormalizedAlert(
        kind=AlertKind.TRIGGER,
        series_key="\x00",
        condition="c\ud800",
        severity=Severity.LOW,
        title="t",
        message="m\x00",
        device_name="\udfff",
        labels={"k\x00": "v\ud800", "ok": "fine"},
    )
    assert alert.series_key == "\ufffd"
    assert alert.condition == "c\ufffd"
    assert alert.message == "m\ufffd"
    assert alert.device_name == "\ufffd"
    assert dict(alert.labels) == {"k\ufffd": "v\ufffd", "ok": "fine"}


class _CountingHash:
    """sha256 that counts every byte it is fed, copies included."""

    def __init__(self, counter: list[int], inner: Any = None) -> None:
        self._counter = counter
        self._inner = inner if inner is not None else hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._counter[0] += len(data)
        self._inner.update(data)

    def copy(self) -> _CountingHash:
        return _CountingHash(self._counter, self._inner.copy())

    def hexdigest(self) -> str:
        return str(self._inner.hexdigest())


def test_delivery_keys_hash_the_body_once(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = orjson.dumps([{"alert_message": "x" * 500, "n": n} for n in range(200)])
    alerts = [
        NormalizedAlert(
            kind=AlertKind.TRIGGER,
            series_key=f"s{n}",
            condition="c",
            severity=Severity.LOW,
            title="t",
            message="m",
        )
        for n in range(200)
    ]
    expected = [domain.delivery_key("i", None, raw, n) for n in range(200)]
    hashed = [0]
    counting = types.SimpleNamespace(sha256=lambda: _CountingHash(hashed))
    monkeypatch.setattr(domain, "hashlib", counting)
    keys = domain.delivery_keys("i", raw, alerts)
    assert keys == expected
    assert len(set(keys)) == 200
    # Linear: the body once, plus a few bytes per alert (it was 200 times the body).
    assert hashed[0] <= len(raw) + 200 * 16
