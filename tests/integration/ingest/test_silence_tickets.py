"""A silent source through the whole mesh in one process (real PostgreSQL and NATS): its
alert opens a ticket, and when the source sends again the ticket closes with a comment
that says so, not that the alert was reset in the RMM (issue 17)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.contracts.mesh import mesh
from tests.integration.ingest.polling import execute
from tests.integration.ingest.test_polling_tickets import eventually
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
CORPUS = Path(__file__).resolve().parents[2] / "unit" / "ingest" / "corpus" / "generic"


@pytest.fixture(autouse=True)
def fast_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frequent silence sweeps."""
    monkeypatch.setenv("TRIAGE_SILENCE_TICK_SECONDS", "0.1")


async def test_a_source_sending_again_closes_its_silence_ticket_saying_so(
    fresh_db: str, nats_url: str
) -> None:
    async with mesh(fresh_db, nats_url) as running:
        md = running.metadata
        ingest = ingest_grpc.IngestServiceStub(running.channels["ingest"])
        rules = rules_grpc.RulesServiceStub(running.channels["rules"])
        tickets: tickets_grpc.TicketsServiceAsyncStub = tickets_grpc.TicketsServiceStub(
            running.channels["tickets"]
        )
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
                    provider=ingest_pb.PROVIDER_GENERIC, display_name="Backups"
                )
            ),
            metadata=md,
        )
        integration_id, secret = created.integration.id, created.secret
        series = f"{integration_id}:source-silent:{integration_id}"

        async def silence_ticket(closed: bool) -> tickets_pb.Ticket | None:
            reply = await tickets.ListTickets(
                tickets_api.ListTicketsRequest(page_size=100), metadata=md
            )
            found = [t for t in reply.tickets if series in t.linked_series_keys]
            assert len(found) <= 1
            done = bool(found) and found[0].status == tickets_pb.TICKET_STATUS_CLOSED
            return found[0] if found and done == closed else None

        async with httpx.AsyncClient(
            base_url=running.services["ingest"].http_url,
            timeout=10,
            headers={"content-type": "application/json", "x-triage-secret": secret},
        ) as http:
            path = f"/v1/webhooks/generic/{integration_id}"
            sent = await http.post(path, content=(CORPUS / "trigger.json").read_bytes())
            assert sent.status_code in (200, 202), sent.text
            # A day and a bit without a word (the default for a source that has sent before).
            await execute(
                fresh_db,
                "UPDATE ingest.integrations SET last_received_at = now() - interval '25 hours'"
                " WHERE id = %s",
                integration_id,
            )
            await eventually(lambda: silence_ticket(closed=False), "the silence ticket")
            again = await http.post(path, content=(CORPUS / "resolve.json").read_bytes())
            assert again.status_code in (200, 202), again.text

        closed = await eventually(lambda: silence_ticket(closed=True), "the silence ticket closed")
        comments = (
            await tickets.ListComments(
                tickets_api.ListCommentsRequest(ticket_id=closed.id, page_size=100), metadata=md
            )
        ).comments
        said = [c.body for c in comments if "sending again" in c.body]
        assert len(said) == 1, [c.body for c in comments]
        assert not [c.body for c in comments if "reset in the RMM" in c.body]
