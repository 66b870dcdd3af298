"""SLA badges come from one BatchGetTicketSla per 200 tickets, not one call per ticket."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from services.console.views.badges import badges_from, chunks
from tests.unit.console.test_app import FakeMesh, sign_in
from tests.unit.console.test_view_models import NOW
from triage.runtime.events import to_timestamp
from triage.sla.v1 import resources_pb2 as sla_res
from triage.sla.v1 import sla_service_pb2 as sla_api
from triage.tickets.v1 import resources_pb2 as tickets_res
from triage.tickets.v1 import tickets_service_pb2 as tickets_api


def _sla(ticket_id: str, state: int, minutes: int) -> sla_res.TicketSla:
    return sla_res.TicketSla(
        ticket=sla_res.SlaTicketRef(ticket_id=ticket_id),
        clocks=[
            sla_res.SlaClock(
                kind=sla_res.SLA_TARGET_KIND_RESOLUTION,
                state=state,  # type: ignore[arg-type]
                due_time=to_timestamp(NOW + timedelta(minutes=minutes)),
                percent_used=10,
            )
        ],
    )


def test_chunks_drop_repeats_and_respect_the_api_bound() -> None:
    ids = [str(i) for i in range(450)] + ["3", ""]
    parts = chunks(ids)
    assert [len(p) for p in parts] == [200, 200, 50]
    assert [i for p in parts for i in p] == [str(i) for i in range(450)]
    assert chunks([]) == []


def test_badges_from_found_clocks_and_none_for_the_rest() -> None:
    found = badges_from(
        ["a", "b", "c"],
        [_sla("a", sla_res.SLA_STATE_BREACHED, -5), _sla("c", sla_res.SLA_STATE_RUNNING, 600)],
        NOW,
    )
    assert [found[k].state for k in "abc"] == ["breached", "none", "ok"]


async def test_now_board_asks_sla_once_for_every_ticket_shown(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    ids = [str(uuid.uuid4()) for _ in range(25)]
    mesh.answers["ListTickets"] = tickets_api.ListTicketsResponse(
        tickets=[
            tickets_res.Ticket(id=i, number=n, title=f"t{n}", priority=tickets_res.PRIORITY_P2)
            for n, i in enumerate(ids, 1)
        ]
    )
    mesh.answers["BatchGetTicketSla"] = sla_api.BatchGetTicketSlaResponse(
        ticket_slas=[_sla(ids[0], sla_res.SLA_STATE_BREACHED, -5)]
    )
    mesh.calls.clear()
    reply = await client.get("/now/board")
    assert reply.status_code == 200
    sla_calls = [r for _, m, r in mesh.calls if m.endswith("TicketSla")]
    # Five priority lists answer the same 25 tickets: asked about once, in one call.
    assert len(sla_calls) == 1
    assert list(sla_calls[0].ticket_ids) == ids  # type: ignore[attr-defined]
    assert "breached" in reply.text.lower()
