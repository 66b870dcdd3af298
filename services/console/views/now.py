"""Now: open tickets by priority with SLA badges, a critical banner, counts per client."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.console.views.badges import badges
from services.console.web import call, page, render
from triage.tickets.v1 import resources_pb2 as tickets_res
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

PER_PRIORITY = 25
PRIORITIES = (
    tickets_res.PRIORITY_P1,
    tickets_res.PRIORITY_P2,
    tickets_res.PRIORITY_P3,
    tickets_res.PRIORITY_P4,
    tickets_res.PRIORITY_P5,
)


async def board(request: Request) -> dict[str, Any]:
    """The board's data: one bounded page of open tickets per priority, their badges,
    the client counts over what is shown, and whether anything is critical."""
    replies = await asyncio.gather(
        *(
            call(
                request,
                "tickets",
                "ListTickets",
                tickets_api.ListTicketsRequest(open=True, priorities=[p], page_size=PER_PRIORITY),
            )
            for p in PRIORITIES
        )
    )
    groups = [
        {"priority": p, "tickets": list(r.tickets), "more": r.next_page_token}
        for p, r in zip(PRIORITIES, replies, strict=True)
    ]
    shown = [t for g in groups for t in g["tickets"]]
    found = await badges(request, [t.id for t in shown])
    clients = Counter(t.client_name or t.client_id or "(no client)" for t in shown)
    breached = [t for t in shown if found[t.id].state == "breached"]
    return {
        "groups": groups,
        "badges": found,
        "clients": clients.most_common(),
        "critical": [t for t in shown if t.priority == tickets_res.PRIORITY_P1],
        "breached": breached,
        "total": len(shown),
    }


async def now_page(request: Request) -> Response:
    """The whole page; the board inside it refreshes itself."""
    return render(request, "now.html", **await board(request))


async def now_board(request: Request) -> Response:
    """The board alone, for htmx polling."""
    return render(request, "now_board.html", **await board(request))


ROUTES = [page("/", now_page), page("/now/board", now_board)]
