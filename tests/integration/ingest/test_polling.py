"""Reconciliation polling against a real ingest service, PostgreSQL, NATS and fake
provider APIs over real HTTP (issue 17)."""

from __future__ import annotations

import orjson
import pytest

from tests.fakes.rmm import FakeNinjaOne, ninja_alert, serving
from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.polling import (
    alert_events,
    api_settings,
    execute,
    first_cycle,
    poll_row,
    run_cycle,
)
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look for due cycles often, and a grace period a test can wait out."""
    monkeypatch.setenv("TRIAGE_POLL_TICK_SECONDS", "0.1")
    monkeypatch.setenv("TRIAGE_POLL_GRACE_SECONDS", "0.5")


def ninja_webhook(device_id: int, config_uid: str, activity_id: int, series: str) -> bytes:
    """The NinjaOne webhook of the alert ``ninja_alert(..., device_id, config_uid)``."""
    return orjson.dumps(
        {
            "id": activity_id,
            "activityTime": 1742391675.556,
            "deviceId": device_id,
            "severity": "CRITICAL",
            "priority": "HIGH",
            "seriesUid": series,
            "activityType": "CONDITION",
            "statusCode": "TRIGGERED",
            "status": "Triggered",
            "sourceConfigUid": config_uid,
            "sourceName": "Disk Space - C: below 10%",
            "subject": "Disk space on C: is below 10%",
            "message": "Disk C: has 4% free",
            "device": {"id": device_id, "displayName": "FS01", "organizationId": 7},
        }
    )


async def test_missed_trigger_is_ingested_once_and_a_late_webhook_is_a_duplicate(
    ingest: Ingest, fresh_db: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with serving(fake) as url:
        integration_id, secret = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        row = await first_cycle(fresh_db, integration_id)
        assert (row.last_outcome, row.last_found, row.last_created) == ("ok", 1, 1)
        events = await alert_events(ingest, integration_id)
        assert len(events) == 1
        assert events[0].kind == pb.ALERT_KIND_TRIGGER
        assert events[0].labels["triage.origin"] == "poll"

        again = await run_cycle(fresh_db, integration_id)
        assert (again.last_found, again.last_created) == (1, 0)
        late = await ingest.post(
            "ninjaone",
            integration_id,
            ninja_webhook(42, "cfg-1", 777, "series-from-webhook"),
            secret=secret,
        )
        assert late.status_code in (200, 202), late.text
        assert late.json()["duplicates"] == 1
        assert len(await alert_events(ingest, integration_id)) == 1

        # A trigger of another condition on the same device is a new alert.
        other = await ingest.post(
            "ninjaone", integration_id, ninja_webhook(42, "cfg-2", 778, "s-2"), secret=secret
        )
        assert other.json()["duplicates"] == 0
        assert len(await alert_events(ingest, integration_id)) == 2

        reply = await ingest.stub.GetIntegration(
            api.GetIntegrationRequest(integration_id=integration_id),
            metadata=ingest.md("ingest:read"),
        )
        status = reply.integration.poll_status
        assert (status.outcome, status.found, status.created) == ("ok", 1, 0)
        assert status.HasField("last_cycle_time") and status.HasField("next_cycle_time")
        assert pb.PROVIDER_CAPABILITY_POLLING in reply.integration.capabilities


async def test_alert_no_longer_listed_is_reset_after_the_grace_period(
    ingest: Ingest, fresh_db: str
) -> None:
    fake = FakeNinjaOne()
    async with serving(fake) as url:
        integration_id, secret = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        await first_cycle(fresh_db, integration_id)
        # The trigger came by webhook; the reset webhook is lost.
        fake.alerts = [ninja_alert("uid-9", 42, "cfg-9")]
        sent = await ingest.post(
            "ninjaone", integration_id, ninja_webhook(42, "cfg-9", 901, "s-9"), secret=secret
        )
        assert sent.json()["duplicates"] == 0
        listed = await run_cycle(fresh_db, integration_id)
        assert (listed.last_found, listed.last_created, listed.last_resolved) == (1, 0, 0)

        fake.alerts = []
        first_missing = await run_cycle(fresh_db, integration_id)
        # Missing once is not enough: a poll racing a webhook never closes a live alert.
        assert first_missing.last_resolved == 0
        assert len(first_missing.missing_since) == 1
        resolved = 0
        for _ in range(50):
            resolved = (await run_cycle(fresh_db, integration_id)).last_resolved
            if resolved:
                break
        assert resolved == 1
        events = await alert_events(ingest, integration_id)
        assert [e.kind for e in events] == [pb.ALERT_KIND_TRIGGER, pb.ALERT_KIND_RESET]
        reset = events[1]
        assert reset.series_key == events[0].series_key
        assert reset.labels["triage.reset_origin"] == "inactive"
        assert "no longer active in the RMM" in reset.summary
        # Once reset, later cycles add nothing.
        after = await run_cycle(fresh_db, integration_id)
        assert after.last_resolved == 0
        assert len(await alert_events(ingest, integration_id)) == 2


async def test_no_reset_from_a_failed_listing_and_back_off(ingest: Ingest, fresh_db: str) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-5", 42, "cfg-5")]
    async with serving(fake) as url:
        integration_id, _ = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        await first_cycle(fresh_db, integration_id)
        fake.alerts = []

        fake.fail_next(503, path_prefix="/v2/alerts")
        failed = await run_cycle(fresh_db, integration_id)
        assert (failed.last_outcome, failed.failures) == ("transient", 1)
        row = await poll_row(fresh_db, integration_id)
        assert row is not None and row.last_finished_at is not None
        # Backs off at least one interval (15 minutes by default).
        assert (row.next_poll_at - row.last_finished_at).total_seconds() >= 900 - 1
        assert failed.missing_since == {}

        fake.fail_next(429, retry_after="1800", path_prefix="/v2/alerts")
        limited = await run_cycle(fresh_db, integration_id)
        assert limited.last_outcome == "rate_limited"
        assert limited.last_finished_at is not None
        assert (limited.next_poll_at - limited.last_finished_at).total_seconds() >= 1800 - 1
        assert [e.kind for e in await alert_events(ingest, integration_id)] == [
            pb.ALERT_KIND_TRIGGER
        ]


async def test_an_unreadable_secret_fails_its_integration_alone(
    ingest: Ingest, fresh_db: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with serving(fake) as url:
        broken, _ = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        healthy, _ = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        await first_cycle(fresh_db, broken)
        await execute(
            fresh_db,
            "UPDATE ingest.integrations SET api_secret = 'garbage'::bytea WHERE id = %s",
            broken,
        )
        failed = await run_cycle(fresh_db, broken)
        assert (failed.last_outcome, failed.failures) == ("permanent", 1)
        ok = await run_cycle(fresh_db, healthy)
        assert ok.last_outcome == "ok"
        reply = await ingest.stub.GetIntegration(
            api.GetIntegrationRequest(integration_id=broken), metadata=ingest.md("ingest:read")
        )
        assert "API secret cannot be read" in reply.integration.poll_status.error
