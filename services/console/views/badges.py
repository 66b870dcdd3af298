"""SLA badges for tickets, from SlaService.BatchGetTicketSla (one call per 200 tickets;
"no SLA" when the ticket has none or the call is refused)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from services.console import format as fmt
from services.console.web import call_or_none
from triage.sla.v1 import resources_pb2 as sla_res
from triage.sla.v1 import sla_service_pb2 as sla_api

#: The API's bound on ticket ids per BatchGetTicketSla.
BATCH = 200


def clocks_of(ticket_sla: Any) -> list[dict[str, Any]]:
    """A TicketSla's clocks as the plain dicts :func:`format.sla_badge` reads."""
    return [
        {
            "kind": fmt.slug(sla_res.SlaTargetKind, c.kind, "SLA_TARGET_KIND_"),
            "state": fmt.slug(sla_res.SlaState, c.state, "SLA_STATE_"),
            "due": fmt.when(c.due_time),
            "percent": c.percent_used,
        }
        for c in ticket_sla.clocks
    ]


def chunks(ticket_ids: list[str], size: int = BATCH) -> list[list[str]]:
    """``ticket_ids`` without repeats or blanks, in batches the API accepts."""
    unique = list(dict.fromkeys(t for t in ticket_ids if t))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


def badges_from(ticket_ids: list[str], slas: Iterable[Any], now: datetime) -> dict[str, fmt.Badge]:
    """A badge per asked ticket from the TicketSla messages found (absent: "no SLA")."""
    by_id = {s.ticket.ticket_id: s for s in slas}
    return {t: fmt.sla_badge(clocks_of(by_id[t]) if t in by_id else [], now) for t in ticket_ids}


async def badges(request: Request, ticket_ids: list[str]) -> dict[str, fmt.Badge]:
    """Badges of many tickets: one BatchGetTicketSla per :data:`BATCH` ids, concurrently."""
    replies = await asyncio.gather(
        *(
            call_or_none(
                request, "sla", "BatchGetTicketSla", sla_api.BatchGetTicketSlaRequest(ticket_ids=c)
            )
            for c in chunks(ticket_ids)
        )
    )
    slas = [s for r in replies if r is not None for s in r.ticket_slas]
    return badges_from(ticket_ids, slas, datetime.now(UTC))
