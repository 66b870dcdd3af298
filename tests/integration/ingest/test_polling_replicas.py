"""Two ingest replicas on one database never run one integration's poll cycle twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.ingest.models import SCHEMA, outbox
from services.ingest.wiring import wire
from tests.fakes.rmm import FakeNinjaOne, ninja_alert, serving
from tests.integration.ingest.conftest import MIGRATIONS, Ingest
from tests.integration.ingest.polling import alert_events, api_settings, first_cycle, run_cycle
from tests.service_harness import RunningService, running_service
from triage.runtime.outbox import Outbox

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def eager_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both replicas look for due cycles all the time."""
    monkeypatch.setenv("TRIAGE_POLL_TICK_SECONDS", "0.02")


@pytest.fixture
async def second_replica(
    ingest: Ingest, fresh_db: str, nats_url: str
) -> AsyncIterator[RunningService]:
    """Another ingest process on the same database and NATS."""
    async with running_service(
        name="ingest",
        schema=SCHEMA,
        outbox=Outbox(outbox),
        wire=wire,
        migrations=MIGRATIONS,
        database_url=fresh_db,
        nats_url=nats_url,
    ) as svc:
        yield svc


async def test_each_due_cycle_runs_once_across_two_replicas(
    ingest: Ingest, second_replica: RunningService, fresh_db: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with serving(fake) as url:
        integration_ids = []
        for _ in range(3):
            integration_id, _ = await ingest.integration(
                "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
            )
            integration_ids.append(integration_id)
        for integration_id in integration_ids:
            await first_cycle(fresh_db, integration_id)
        rounds = 5
        for _ in range(rounds):
            await asyncio.gather(*(run_cycle(fresh_db, i) for i in integration_ids))
        listings = fake.api_calls("GET", "/v2/alerts")
        assert len(listings) == len(integration_ids) * (rounds + 1)
        for integration_id in integration_ids:
            events = await alert_events(ingest, integration_id)
            assert len(events) == 1
