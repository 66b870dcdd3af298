"""Polling through the whole mesh in one process (ingest, rules, tickets, sla, notify on
real PostgreSQL and NATS): a missed trigger opens a ticket, and the alert the RMM no
longer lists closes it with the comment that says so (issue 17)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from tests.fakes.rmm import FakeNinjaOne, ninja_alert, serving
from tests.integration.contracts.mesh import mesh
from tests.integration.ingest.polling import first_cycle, run_cycle
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api
from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc

pytestmark = pytest.mark.integration
T = TypeVar("T")


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frequent poll ticks and a short grace period."""
    monkeypatch.setenv("TRIAGE_POLL_TICK_SECONDS", "0.1")
    monkeypatch.setenv("TRIAGE_POLL_GRACE_SECONDS", "0.3")


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``check`` until it returns something; fail after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} not reached"
        await asyncio.sleep(0.1)


async def test_missed_alert_opens_a_ticket_and_the_inactive_reset_closes_it(
    fresh_db: str, nats_url: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with mesh(fresh_db, nats_url) as running, serving(fake) as url:
        md = running.metadata
        ingest = ingest_grpc.IngestServiceStub(running.channels["ingest"])
        rules = rules_grpc.RulesServiceStub(running.channels["rules"])
        tickets = tickets_grpc.TicketsServiceStub(running.channels["tickets"])
        await rules.CreateRule(
            rules_api.CreateRuleRequest(
                request_id=str(uuid.uuid4()),
                rule=rules_pb.Rule(
                    display_name="Ticket every alert",
                    actions=rules_pb.Actions(ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET),
                ),
            ),
            metadata=md,
        )
        created = await ingest.CreateIntegration(
            ingest_api.CreateIntegrationRequest(
                integration=ingest_pb.Integration(
                    provider=ingest_pb.PROVIDER_NINJAONE,
                    display_name="NinjaOne",
                    settings=ingest_pb.IntegrationSettings(
                        api=ingest_pb.ProviderApi(
                            base_url=url, client_id=fake.client_id, client_secret=fake.client_secret
                        )
                    ),
                )
            ),
            metadata=md,
        )
        integration_id = created.integration.id
        await first_cycle(fresh_db, integration_id)
        events = (
            await ingest.ListAlertEvents(
                ingest_api.ListAlertEventsRequest(integration_id=integration_id), metadata=md
            )
        ).alert_events
        assert len(events) == 1
        series = events[0].series_key

        async def ticket(
            wanted: Callable[[tickets_pb.Ticket], bool],
        ) -> tickets_pb.Ticket | None:
            reply = await tickets.ListTickets(
                tickets_api.ListTicketsRequest(page_size=100), metadata=md
            )
            found = [t for t in reply.tickets if series in t.linked_series_keys]
            assert len(found) <= 1
            return found[0] if found and wanted(found[0]) else None

        opened = await eventually(lambda: ticket(lambda t: True), "a ticket for the polled alert")
        assert opened.status != tickets_pb.TICKET_STATUS_CLOSED

        fake.alerts = []
        for _ in range(50):
            if (await run_cycle(fresh_db, integration_id)).last_resolved:
                break
        closed = await eventually(
            lambda: ticket(lambda t: t.status == tickets_pb.TICKET_STATUS_CLOSED),
            "the ticket closed by the inactive reset",
        )
        comments = (
            await tickets.ListComments(
                tickets_api.ListCommentsRequest(ticket_id=closed.id, page_size=100), metadata=md
            )
        ).comments
        said = [c.body for c in comments if "no longer active in the RMM" in c.body]
        assert len(said) == 1, [c.body for c in comments]
        assert "reset in the RMM" not in said[0]
