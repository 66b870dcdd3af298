"""Outbound resets against a real ingest service and a local fake provider API."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import uvicorn

from services.ingest.events import OUTBOUND_RESET_DURABLE
from tests.consumer_lag import group_pending
from tests.integration.ingest.conftest import Ingest, ninja_trigger
from tests.integration.ingest.fake_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeProvider,
    _QuietServer,
)
from tests.service_harness import free_port
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb
from triage.runtime.bus import Bus
from triage.runtime.events import new_envelope, subject_for, unpack
from triage.tickets.v1 import events_pb2 as ticket_events
from triage.tickets.v1 import resources_pb2 as ticket_pb

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fast_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short backoff and few attempts, so retries happen within a test."""
    monkeypatch.setenv("TRIAGE_OUTBOUND_RESET_BASE_SECONDS", "0.05")
    monkeypatch.setenv("TRIAGE_OUTBOUND_RESET_CAP_SECONDS", "0.2")
    monkeypatch.setenv("TRIAGE_OUTBOUND_RESET_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("TRIAGE_OUTBOUND_RESET_IDLE_SECONDS", "1")


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    """The fake provider API on a free loopback port."""
    fake = FakeProvider()
    port = free_port()
    fake.url = f"http://127.0.0.1:{port}"
    server = _QuietServer(
        uvicorn.Config(
            fake,
            host="127.0.0.1",
            port=port,
            loop="none",
            lifespan="off",
            access_log=False,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake provider did not start"
        await asyncio.sleep(0.01)
    try:
        yield fake
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def bus(ingest: Ingest) -> AsyncIterator[Bus]:
    """A NATS connection of the test's own."""
    connection = await Bus.connect(ingest.svc.settings.nats_url, name="outbound-reset-test")
    try:
        yield connection
    finally:
        await connection.close()


def _api(provider: FakeProvider) -> pb.ProviderApi:
    return pb.ProviderApi(base_url=provider.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@dataclass(frozen=True)
class Triggered:
    """A delivered trigger and the integration it came through."""

    alert_id: str
    series_key: str
    integration_id: str
    secret: str


async def _trigger(
    ingest: Ingest, provider_name: str, body: bytes, api_settings: pb.ProviderApi | None
) -> Triggered:
    """Create an integration and deliver ``body`` through the gateway."""
    settings: dict[str, Any] = {"api": api_settings} if api_settings is not None else {}
    integration_id, secret = await ingest.integration(provider_name, **settings)
    response = await ingest.post(provider_name, integration_id, body, secret=secret)
    assert response.status_code == 202, response.text
    alert_id = str(response.json()["alert_ids"][0])
    series_key = (await _alert(ingest, alert_id)).series_key
    return Triggered(alert_id, series_key, integration_id, secret)


async def _alert(ingest: Ingest, alert_id: str) -> pb.AlertEvent:
    reply = await ingest.stub.GetAlertEvent(
        api.GetAlertEventRequest(alert_id=alert_id), metadata=ingest.md("ingest:read")
    )
    return reply.alert_event


def _closed(ingest: Ingest, series_key: str, *, reset_alert: bool = True) -> Envelope:
    ticket_id = str(uuid.uuid4())
    return new_envelope(
        tenant_id=ingest.tenant_id,
        event_type="ticket.closed",
        payload=ticket_events.TicketClosed(
            ticket=ticket_pb.Ticket(id=ticket_id, tenant_id=ingest.tenant_id),
            linked_series_keys=[series_key],
            reset_alert=reset_alert,
            actor="tech@example.com",
        ),
        producer="tickets",
        ordering_key=ticket_id,
    )


async def _until_final(ingest: Ingest, alert_id: str, *, timeout: float = 15.0) -> pb.OutboundReset:
    """Poll GetAlertEvent until the reset is neither requested-but-pending nor absent."""
    waiting = (pb.OUTBOUND_RESET_STATE_NOT_REQUESTED, pb.OUTBOUND_RESET_STATE_PENDING)
    deadline = time.monotonic() + timeout
    while True:
        reset = (await _alert(ingest, alert_id)).outbound_reset
        if reset.state not in waiting:
            return reset
        assert time.monotonic() < deadline, f"reset still {pb.OutboundResetState.Name(reset.state)}"
        await asyncio.sleep(0.02)


async def _outcome(ingest: Ingest, bus: Bus) -> ingest_events.AlertResetOutcome:
    """The last ``alert.reset_outcome`` of the tenant, once the relay published it."""
    subject = f"triage.alert.reset_outcome.{ingest.tenant_id}.*"
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(Exception):
            message = await bus.js.get_last_msg("TRIAGE_ALERT", subject)
            envelope = Envelope()
            envelope.ParseFromString(message.data or b"")
            return unpack(envelope, ingest_events.AlertResetOutcome)
        assert time.monotonic() < deadline, "no alert.reset_outcome published"
        await asyncio.sleep(0.05)


async def _consumed(bus: Bus, stream_seq: int) -> None:
    """Wait until the reset consumer has handled and acked everything up to ``stream_seq``."""
    deadline = time.monotonic() + 10
    while True:
        if not await group_pending(bus.js, "TRIAGE_TICKET", OUTBOUND_RESET_DURABLE):
            return
        assert time.monotonic() < deadline, "ticket.closed not consumed"
        await asyncio.sleep(0.02)


def _ninja_active(uid: str = "alert-uid-1", series: str = "series-1") -> dict[str, Any]:
    return {
        "uid": uid,
        "deviceId": 42,
        "sourceConfigUid": f"cfg-{series}",
        "createTime": 1742391675.5,
    }


async def test_ninjaone_reset_found_among_active_alerts_succeeds(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    provider.active_alerts = [_ninja_active("other", "series-9"), _ninja_active()]
    sent = await _trigger(ingest, "ninjaone", ninja_trigger(), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED, reset
    assert reset.attempt_count == 1
    assert reset.last_response_code == 204
    assert reset.last_outcome == "HTTP 204"
    assert reset.HasField("complete_time") and not reset.HasField("next_attempt_time")
    assert [c.path for c in provider.paths("/reset")] == ["/v2/alert/alert-uid-1/reset"]
    assert len(provider.paths("/v2/alerts")) == 1
    outcome = await _outcome(ingest, bus)
    assert outcome.alert_id == alert_id and outcome.series_key == series_key
    assert outcome.outbound_reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED
    assert outcome.provider == pb.PROVIDER_NINJAONE


async def test_ninjaone_reset_by_alert_uid_skips_the_lookup(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    body = orjson.loads(ninja_trigger())
    body["alertUid"] = "known-uid"
    sent = await _trigger(ingest, "ninjaone", orjson.dumps(body), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED, reset
    assert [c.path for c in provider.paths("/reset")] == ["/v2/alert/known-uid/reset"]
    assert provider.paths("/v2/alerts") == []


async def test_alert_no_longer_active_at_the_source_is_a_successful_noop(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    provider.active_alerts = [_ninja_active("other", "series-9")]
    sent = await _trigger(ingest, "ninjaone", ninja_trigger(), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED, reset
    assert "no longer active at the source" in reset.last_outcome
    assert provider.paths("/reset") == []


async def test_server_errors_are_retried_until_success_with_one_token(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    provider.active_alerts = [_ninja_active()]
    provider.fail(2, 500, body=b'{"error":"boom"}')
    sent = await _trigger(ingest, "ninjaone", ninja_trigger(), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED, reset
    assert reset.attempt_count == 3
    assert reset.last_response_code == 204
    assert len(provider.paths("/reset")) == 3
    assert len(provider.paths("/ws/oauth/token")) == 1


async def test_retries_give_up_after_max_attempts(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    body = orjson.loads(ninja_trigger())
    body["alertUid"] = "flaky"
    provider.fail(10, 503)
    sent = await _trigger(ingest, "ninjaone", orjson.dumps(body), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_FAILED, reset
    assert reset.attempt_count == 4
    assert reset.last_response_code == 503
    assert "gave up after 4 attempts" in reset.last_outcome
    outcome = await _outcome(ingest, bus)
    assert outcome.outbound_reset.state == pb.OUTBOUND_RESET_STATE_FAILED
    assert outcome.ticket_id == reset.ticket_id


async def test_too_many_requests_honours_retry_after(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    body = orjson.loads(ninja_trigger())
    body["alertUid"] = "busy"
    provider.fail(1, 429, retry_after="1")
    sent = await _trigger(ingest, "ninjaone", orjson.dumps(body), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED, reset
    assert reset.attempt_count == 2
    first, second = provider.paths("/reset")
    assert second.at - first.at >= 0.95


async def test_not_found_is_a_permanent_failure_and_not_retried(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    body = orjson.loads(ninja_trigger())
    body["alertUid"] = "gone"
    provider.fail(10, 404, body=b'{"error":"alert not found"}')
    sent = await _trigger(ingest, "ninjaone", orjson.dumps(body), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_FAILED, reset
    assert reset.attempt_count == 1
    assert reset.last_response_code == 404
    assert "alert not found" in reset.last_outcome
    outcome = await _outcome(ingest, bus)
    assert outcome.outbound_reset.state == pb.OUTBOUND_RESET_STATE_FAILED
    await asyncio.sleep(0.5)
    assert len(provider.paths("/reset")) == 1
    assert (await _alert(ingest, alert_id)).outbound_reset.attempt_count == 1


async def test_datto_resolves_by_alert_uid(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    body = {
        "alertUid": "4a8c2e10-73b5-4f6d-a1e9-0c2b4d6f8a13",
        "priority": "Critical",
        "diagnostics": "Free space on volume D: is 2%",
        "resolved": False,
        "timestamp": 1742391675123,
        "alertSourceInfo": {"deviceUid": "dev-1", "deviceName": "SQL-01"},
    }
    sent = await _trigger(ingest, "datto", orjson.dumps(body), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED, reset
    assert reset.last_response_code == 200
    assert [c.path for c in provider.paths("/resolve")] == [
        "/api/v2/alert/4a8c2e10-73b5-4f6d-a1e9-0c2b4d6f8a13/resolve"
    ]
    assert len(provider.paths("/auth/oauth/token")) == 1


async def test_provider_without_the_capability_is_unsupported(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    # Generic (PagerDuty-style) sources have no API to reset through (Tactical RMM has
    # one since issue 17).
    body = orjson.dumps(
        {
            "event_action": "trigger",
            "dedup_key": "backup/nas01/nightly",
            "payload": {"summary": "Nightly backup failed", "source": "nas01", "severity": "error"},
        }
    )
    sent = await _trigger(ingest, "generic", body, _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_UNSUPPORTED, reset
    assert "cannot reset alerts" in reset.last_outcome
    assert reset.attempt_count == 0
    assert provider.calls == []


async def test_integration_without_api_settings_is_unsupported(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    sent = await _trigger(ingest, "ninjaone", ninja_trigger(), None)
    alert_id, series_key = sent.alert_id, sent.series_key
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_UNSUPPORTED, reset
    assert "no provider API configured" in reset.last_outcome
    assert provider.calls == []


async def test_series_already_reset_at_the_source_is_skipped(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    sent = await _trigger(ingest, "ninjaone", ninja_trigger(), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    reset_body = orjson.loads(ninja_trigger(activity_id=2))
    reset_body.update(statusCode="RESET", status="Reset", activityTime=1742391775.0)
    response = await ingest.post(
        "ninjaone", sent.integration_id, orjson.dumps(reset_body), secret=sent.secret
    )
    assert response.status_code == 202, response.text
    await bus.publish(_closed(ingest, series_key))
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SKIPPED, reset
    assert reset.last_outcome == "already reset at the source"
    assert provider.calls == []


async def test_ticket_closed_without_reset_request_changes_nothing(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    sent = await _trigger(ingest, "ninjaone", ninja_trigger(), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    ack = await bus.js.publish(
        subject_for("ticket.closed", ingest.tenant_id),
        _closed(ingest, series_key, reset_alert=False).SerializeToString(),
    )
    await _consumed(bus, ack.seq)
    reset = (await _alert(ingest, alert_id)).outbound_reset
    assert reset.state == pb.OUTBOUND_RESET_STATE_NOT_REQUESTED
    assert provider.calls == []


async def test_redelivered_ticket_closed_resets_once(
    ingest: Ingest, provider: FakeProvider, bus: Bus
) -> None:
    body = orjson.loads(ninja_trigger())
    body["alertUid"] = "once"
    sent = await _trigger(ingest, "ninjaone", orjson.dumps(body), _api(provider))
    alert_id, series_key = sent.alert_id, sent.series_key
    envelope = _closed(ingest, series_key)
    subject = subject_for("ticket.closed", ingest.tenant_id)
    data = envelope.SerializeToString()
    await bus.js.publish(subject, data, headers={"Nats-Msg-Id": envelope.event_id})
    again = await bus.js.publish(subject, data, headers={"Nats-Msg-Id": str(uuid.uuid4())})
    await _consumed(bus, again.seq)
    reset = await _until_final(ingest, alert_id)
    assert reset.state == pb.OUTBOUND_RESET_STATE_SUCCEEDED, reset
    await asyncio.sleep(0.3)
    assert len(provider.paths("/reset")) == 1
    assert (await _alert(ingest, alert_id)).outbound_reset.attempt_count == 1
