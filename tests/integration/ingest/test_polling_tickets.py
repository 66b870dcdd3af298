"""Polling through the whole mesh in one process (ingest, rules, tickets, sla, notify on
real PostgreSQL and NATS): a missed trigger opens a ticket, and the alert the RMM no
longer lists closes it with the comment that says so (issue 17); the RMM's reset webhook
of that alert closes it at once, on the polled series, and the alert's trigger webhook
delayed past that reset and a cycle counts on that ticket instead of opening another."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest

from tests.fakes.rmm import FakeNinjaOne, ninja_alert, serving
from tests.integration.contracts.mesh import Mesh, mesh
from tests.integration.ingest.polling import first_cycle, run_cycle
from tests.integration.ingest.test_polling import ninja_webhook
from tests.integration.ingest.test_polling_series import ninja_reset
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


@dataclass
class Polled:
    """A mesh whose NinjaOne integration polled one missed trigger: its series, and how
    to read the ticket linked to it."""

    integration_id: str
    secret: str
    http_url: str
    series: str
    tickets: tickets_grpc.TicketsServiceAsyncStub
    md: tuple[tuple[str, str], ...]

    async def ticket(self, wanted: Callable[[tickets_pb.Ticket], bool]) -> tickets_pb.Ticket | None:
        """The ticket linked to the polled series, once ``wanted``."""
        reply = await self.tickets.ListTickets(
            tickets_api.ListTicketsRequest(page_size=100), metadata=self.md
        )
        found = [t for t in reply.tickets if self.series in t.linked_series_keys]
        assert len(found) <= 1
        return found[0] if found and wanted(found[0]) else None

    async def comments(self, ticket_id: str) -> list[str]:
        """The bodies of a ticket's comments."""
        reply = await self.tickets.ListComments(
            tickets_api.ListCommentsRequest(ticket_id=ticket_id, page_size=100), metadata=self.md
        )
        return [c.body for c in reply.comments]


async def polled_ticket(running: Mesh, fresh_db: str, fake: FakeNinjaOne, url: str) -> Polled:
    """A rule that tickets every alert, a polled NinjaOne integration whose first cycle
    ingests ``fake``'s alert, and the ticket it opened."""
    md = running.metadata
    ingest = ingest_grpc.IngestServiceStub(running.channels["ingest"])
    rules = rules_grpc.RulesServiceStub(running.channels["rules"])
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
    polled = Polled(
        integration_id=integration_id,
        secret=created.secret,
        http_url=running.services["ingest"].http_url,
        series=events[0].series_key,
        tickets=tickets_grpc.TicketsServiceStub(running.channels["tickets"]),
        md=md,
    )
    opened = await eventually(
        lambda: polled.ticket(lambda t: True), "a ticket for the polled alert"
    )
    assert opened.status != tickets_pb.TICKET_STATUS_CLOSED
    return polled


async def test_missed_alert_opens_a_ticket_and_the_inactive_reset_closes_it(
    fresh_db: str, nats_url: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with mesh(fresh_db, nats_url) as running, serving(fake) as url:
        polled = await polled_ticket(running, fresh_db, fake, url)
        fake.alerts = []
        for _ in range(50):
            if (await run_cycle(fresh_db, polled.integration_id)).last_resolved:
                break
        closed = await eventually(
            lambda: polled.ticket(lambda t: t.status == tickets_pb.TICKET_STATUS_CLOSED),
            "the ticket closed by the inactive reset",
        )
        comments = await polled.comments(closed.id)
        said = [c for c in comments if "no longer active in the RMM" in c]
        assert len(said) == 1, comments
        assert "reset in the RMM" not in said[0]


async def test_a_webhook_reset_closes_the_ticket_of_a_polled_trigger_at_once(
    fresh_db: str, nats_url: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with mesh(fresh_db, nats_url) as running, serving(fake) as url:
        polled = await polled_ticket(running, fresh_db, fake, url)
        fake.alerts = []
        async with httpx.AsyncClient(base_url=polled.http_url, timeout=10) as http:
            sent = await http.post(
                f"/v1/webhooks/ninjaone/{polled.integration_id}",
                content=ninja_reset(42, "cfg-1", 902, "s-1"),
                headers={"content-type": "application/json", "x-triage-secret": polled.secret},
            )
        assert sent.status_code in (200, 202), sent.text
        closed = await eventually(
            lambda: polled.ticket(lambda t: t.status == tickets_pb.TICKET_STATUS_CLOSED),
            "the ticket closed by the webhook reset",
        )
        comments = await polled.comments(closed.id)
        said = [c for c in comments if "was reset in the RMM" in c]
        assert len(said) == 1, comments
        # The reset names the polled series: that series is closed, not another one.
        assert f"series {polled.series})" in said[0]
        assert not [c for c in comments if "no longer active" in c], comments


async def test_a_trigger_webhook_later_than_its_reset_and_a_cycle_opens_no_ticket(
    fresh_db: str, nats_url: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with mesh(fresh_db, nats_url) as running, serving(fake) as url:
        polled = await polled_ticket(running, fresh_db, fake, url)
        fake.alerts = []
        async with httpx.AsyncClient(base_url=polled.http_url, timeout=10) as http:

            async def post(body: bytes) -> None:
                sent = await http.post(
                    f"/v1/webhooks/ninjaone/{polled.integration_id}",
                    content=body,
                    headers={"content-type": "application/json", "x-triage-secret": polled.secret},
                )
                assert sent.status_code in (200, 202), sent.text

            await post(ninja_reset(42, "cfg-1", 902, "s-1"))
            closed = await eventually(
                lambda: polled.ticket(lambda t: t.status == tickets_pb.TICKET_STATUS_CLOSED),
                "the ticket closed by the webhook reset",
            )
            await run_cycle(fresh_db, polled.integration_id)
            # The trigger webhook of that firing (it occurred before the reset) comes last.
            await post(ninja_webhook(42, "cfg-1", 901, "s-1"))

        async def settled() -> list[tickets_pb.Ticket] | None:
            """Every ticket, once tickets applied the late trigger one way or the other:
            counted on the polled ticket, or a ticket of its own."""
            reply = await polled.tickets.ListTickets(
                tickets_api.ListTicketsRequest(page_size=100), metadata=polled.md
            )
            counted = [t for t in reply.tickets if t.id == closed.id and t.occurrence_count > 1]
            others = [t for t in reply.tickets if t.id != closed.id]
            return list(reply.tickets) if counted or others else None

        tickets = await eventually(settled, "the late trigger applied")
        assert [(t.id, t.status) for t in tickets] == [(closed.id, tickets_pb.TICKET_STATUS_CLOSED)]
        assert tickets[0].occurrence_count == closed.occurrence_count + 1
