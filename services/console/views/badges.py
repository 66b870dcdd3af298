"""SLA badges for tickets, from SlaService.GetTicketSla (absent when the call is refused)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from services.console import format as fmt
from services.console.web import call_or_none
from triage.sla.v1 import resources_pb2 as sla_res
from triage.sla.v1 import sla_service_pb2 as sla_api


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


async def badge(request: Request, ticket_id: str) -> fmt.Badge:
    """The SLA badge of one ticket ("no SLA" when it has none or the call is refused)."""
    reply = await call_or_none(
        request, "sla", "GetTicketSla", sla_api.GetTicketSlaRequest(ticket_id=ticket_id)
    )
    clocks = clocks_of(reply.ticket_sla) if reply is not None else []
    return fmt.sla_badge(clocks, datetime.now(UTC))


async def badges(request: Request, ticket_ids: list[str]) -> dict[str, fmt.Badge]:
    """Badges of many tickets, fetched concurrently."""
    found = await asyncio.gather(*(badge(request, t) for t in ticket_ids))
    return dict(zip(ticket_ids, found, strict=True))
