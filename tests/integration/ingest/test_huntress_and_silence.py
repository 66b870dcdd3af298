"""Huntress end to end (Svix-signed webhooks, incident polling) and silent sources,
against a real ingest service, PostgreSQL, NATS and a fake Huntress over HTTP (issue 17)."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import pytest

from services.ingest.domain import svix
from tests.fakes.rmm import FakeHuntress, incident_report, serving
from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.polling import (
    DEADLINE_SECONDS,
    alert_events,
    api_settings,
    execute,
    first_cycle,
    run_cycle,
    wait_for_events,
)
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[2] / "unit" / "ingest" / "corpus"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"huntress-endpoint-secret-32bytes").decode()


@pytest.fixture(autouse=True)
def fast_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frequent poll ticks and silence sweeps, a short grace period."""
    monkeypatch.setenv("TRIAGE_POLL_TICK_SECONDS", "0.1")
    monkeypatch.setenv("TRIAGE_POLL_GRACE_SECONDS", "0.3")
    monkeypatch.setenv("TRIAGE_SILENCE_TICK_SECONDS", "0.1")


def signed(body: bytes, *, secret: str = SIGNING_SECRET, msg_id: str = "msg_1") -> dict[str, str]:
    """Svix headers for ``body``, as Huntress sends them."""
    stamp = int(time.time())
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(stamp),
        "svix-signature": svix.sign(secret, msg_id, stamp, body),
    }


async def test_huntress_incident_lifecycle_by_webhook_and_poll(
    ingest: Ingest, fresh_db: str
) -> None:
    fake = FakeHuntress()
    async with serving(fake) as url:
        integration_id, _ = await ingest.integration(
            "huntress",
            **api_settings(url, fake.api_key, fake.api_secret),
            webhook_signing_secret=SIGNING_SECRET,
        )
        await first_cycle(fresh_db, integration_id)

        created = (CORPUS / "huntress" / "incident_created.json").read_bytes()
        unsigned = await ingest.post("huntress", integration_id, created)
        assert unsigned.status_code == 401
        forged = await ingest.post(
            "huntress",
            integration_id,
            created,
            headers=signed(created, secret="whsec_" + base64.b64encode(b"x" * 32).decode()),
        )
        assert forged.status_code == 401
        opened = await ingest.post(
            "huntress", integration_id, created, headers=signed(created, msg_id="msg_a")
        )
        assert opened.status_code in (200, 202), opened.text
        # The open incident, listed by the API, is the same alert; another one is new.
        fake.alerts = [incident_report(48213), incident_report(50001)]
        cycle = await run_cycle(fresh_db, integration_id)
        assert (cycle.last_found, cycle.last_created) == (2, 1)
        events = await alert_events(ingest, integration_id)
        assert [(e.kind, e.severity) for e in events] == [
            (pb.ALERT_KIND_TRIGGER, pb.SEVERITY_CRITICAL)
        ] * 2
        assert events[0].client_name == "Contoso Dental"

        # Closed by webhook: a received reset. Closed in Huntress, webhook lost: the poll
        # resets it after the grace period.
        closed = (CORPUS / "huntress" / "incident_closed.json").read_bytes()
        reset = await ingest.post(
            "huntress", integration_id, closed, headers=signed(closed, msg_id="msg_b")
        )
        assert reset.status_code in (200, 202), reset.text
        fake.alerts = [
            incident_report(48213, status="closed"),
            incident_report(50001, status="closed"),
        ]
        resolved = 0
        for _ in range(50):
            resolved += (await run_cycle(fresh_db, integration_id)).last_resolved
            if resolved:
                break
        assert resolved == 1
        events = await alert_events(ingest, integration_id)
        resets = {e.series_key: e for e in events if e.kind == pb.ALERT_KIND_RESET}
        assert len(resets) == 2
        polled = [e for e in resets.values() if e.labels.get("triage.reset_origin") == "inactive"]
        assert len(polled) == 1 and "incident_report:50001" in polled[0].series_key


async def test_a_silent_source_raises_its_alert_and_the_next_event_clears_it(
    ingest: Ingest, fresh_db: str
) -> None:
    integration_id, secret = await ingest.integration("generic")
    body = (CORPUS / "generic" / "trigger.json").read_bytes()
    assert (await ingest.post("generic", integration_id, body, secret=secret)).status_code in (
        200,
        202,
    )
    await _until_received(ingest, integration_id)
    # A day and a bit without a word (the default for a source that has sent before).
    await execute(
        fresh_db,
        "UPDATE ingest.integrations SET last_received_at = now() - interval '25 hours'"
        " WHERE id = %s",
        integration_id,
    )
    events = await wait_for_events(ingest, integration_id, 2)
    silent = events[1]
    assert (silent.kind, silent.condition) == (pb.ALERT_KIND_TRIGGER, "source silent")
    assert silent.device_id == integration_id
    shown = await _integration(ingest, integration_id)
    assert shown.HasField("silent_since_time")

    again = (CORPUS / "generic" / "resolve.json").read_bytes()
    assert (await ingest.post("generic", integration_id, again, secret=secret)).status_code in (
        200,
        202,
    )
    events = await wait_for_events(ingest, integration_id, 4)
    cleared = [e for e in events if e.condition == "source silent"]
    assert [e.kind for e in cleared] == [pb.ALERT_KIND_TRIGGER, pb.ALERT_KIND_RESET]
    assert cleared[0].series_key == cleared[1].series_key
    # Tickets comments it as the source sending again, not as a reset in the RMM.
    assert cleared[1].labels["triage.reset_origin"] == "source_sending"
    assert not (await _integration(ingest, integration_id)).HasField("silent_since_time")


async def test_silence_alerts_can_be_turned_off(ingest: Ingest, fresh_db: str) -> None:
    integration_id, secret = await ingest.integration("generic", silence_alerts_disabled=True)
    body = (CORPUS / "generic" / "trigger.json").read_bytes()
    await ingest.post("generic", integration_id, body, secret=secret)
    await _until_received(ingest, integration_id)
    await execute(
        fresh_db,
        "UPDATE ingest.integrations SET last_received_at = now() - interval '40 days'"
        " WHERE id = %s",
        integration_id,
    )
    # A control integration with the default does go silent: once it has, the sweep ran
    # over both.
    control, control_secret = await ingest.integration("generic")
    await ingest.post("generic", control, body, secret=control_secret)
    await _until_received(ingest, control)
    await execute(
        fresh_db,
        "UPDATE ingest.integrations SET last_received_at = now() - interval '40 days'"
        " WHERE id = %s",
        control,
    )
    await wait_for_events(ingest, control, 2)
    assert len(await alert_events(ingest, integration_id)) == 1


async def _integration(ingest: Ingest, integration_id: str) -> pb.Integration:
    reply = await ingest.stub.GetIntegration(
        api.GetIntegrationRequest(integration_id=integration_id),
        metadata=ingest.md("ingest:read"),
    )
    return reply.integration


async def _until_received(ingest: Ingest, integration_id: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (await _integration(ingest, integration_id)).HasField("last_receive_time"):
        assert time.monotonic() < deadline, "last_receive_time never set"
        await asyncio.sleep(0.05)
