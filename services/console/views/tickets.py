"""Tickets: a filtered list with cursor pages, one ticket's timeline, and its actions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from google.protobuf import duration_pb2, field_mask_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.console.views import timeline
from services.console.views.badges import badges, badges_from
from services.console.web import action, back_to, call, call_or_none, form, page, render
from triage.sla.v1 import sla_service_pb2 as sla_api
from triage.tickets.v1 import resources_pb2 as tickets_res
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

PAGE_SIZE = 50
_STATUS = {s.removeprefix("TICKET_STATUS_").lower(): v for s, v in tickets_res.TicketStatus.items()}
_PRIORITY = {p.removeprefix("PRIORITY_").lower(): v for p, v in tickets_res.Priority.items()}


async def ticket_list(request: Request) -> Response:
    """Tickets matching the query string's filters, one cursor page at a time."""
    q = request.query_params
    req = tickets_api.ListTicketsRequest(
        page_size=PAGE_SIZE,
        page_token=q.get("page_token", ""),
        client_id=q.get("client", ""),
        assignee=q.get("assignee", ""),
        query=q.get("q", ""),
    )
    if q.get("state") in ("open", "closed"):
        req.open = q.get("state") == "open"
    if q.get("priority") in _PRIORITY:
        req.priorities.append(_PRIORITY[q["priority"]])
    if q.get("status") in _STATUS:
        req.statuses.append(_STATUS[q["status"]])
    reply = await call(request, "tickets", "ListTickets", req)
    found = await badges(request, [t.id for t in reply.tickets])
    keep = {k: v for k, v in q.items() if k != "page_token" and v}
    return render(
        request,
        "tickets.html",
        tickets=list(reply.tickets),
        badges=found,
        next_token=reply.next_page_token,
        filters=keep,
    )


async def _all(request: Request, method: str, req: Any, attr: str, limit: int = 5) -> list[Any]:
    """Up to ``limit`` pages of a per-ticket list (None-safe when the call is refused)."""
    out: list[Any] = []
    for _ in range(limit):
        service, rpc = method.split(".")
        reply = await call_or_none(request, service, rpc, req)
        if reply is None:
            break
        out += getattr(reply, attr)
        if not reply.next_page_token:
            break
        req.page_token = reply.next_page_token
    return out


async def ticket_page(request: Request) -> Response:
    """One ticket: header, SLA clocks, the merged timeline, and the action forms."""
    ticket_id = request.path_params["ticket_id"]
    reply = await call(
        request, "tickets", "GetTicket", tickets_api.GetTicketRequest(ticket_id=ticket_id)
    )
    ticket = reply.ticket
    comments, history, times, audit, sla = await asyncio.gather(
        _all(
            request,
            "tickets.ListComments",
            tickets_api.ListCommentsRequest(ticket_id=ticket.id, page_size=500),
            "comments",
        ),
        _all(
            request,
            "tickets.ListTicketHistory",
            tickets_api.ListTicketHistoryRequest(ticket_id=ticket.id, page_size=500),
            "history_entries",
        ),
        _all(
            request,
            "tickets.ListTimeEntries",
            tickets_api.ListTimeEntriesRequest(ticket_id=ticket.id, page_size=500),
            "time_entries",
        ),
        _all(
            request,
            "sla.ListTicketSlaAudit",
            sla_api.ListTicketSlaAuditRequest(ticket_id=ticket.id, page_size=500),
            "audit_entries",
        ),
        call_or_none(
            request, "sla", "GetTicketSla", sla_api.GetTicketSlaRequest(ticket_id=ticket.id)
        ),
    )
    found = [sla.ticket_sla] if sla is not None else []
    shown = badges_from([ticket.id], found, datetime.now(UTC))[ticket.id]
    entries = timeline.merge(history=history, comments=comments, times=times, audit=audit)
    return render(
        request,
        "ticket.html",
        ticket=ticket,
        badge=shown,
        clocks=list(sla.ticket_sla.clocks) if sla is not None else [],
        entries=entries,
        closed=ticket.status == tickets_res.TICKET_STATUS_CLOSED,
        notice=request.query_params.get("notice", ""),
    )


def _here(request: Request) -> str:
    return f"/tickets/{request.path_params['ticket_id']}"


async def comment(request: Request) -> Response:
    """AddComment (public or internal)."""
    data = await form(request)
    visibility = (
        tickets_res.COMMENT_VISIBILITY_PUBLIC
        if data.get("visibility") == "public"
        else tickets_res.COMMENT_VISIBILITY_INTERNAL
    )
    await call(
        request,
        "tickets",
        "AddComment",
        tickets_api.AddCommentRequest(
            request_id=data.get("request_id", ""),
            ticket_id=request.path_params["ticket_id"],
            comment=tickets_res.Comment(body=data.get("body", ""), visibility=visibility),
        ),
    )
    return back_to(_here(request), "Comment added")


async def log_time(request: Request) -> Response:
    """AddTimeEntry from minutes worked."""
    data = await form(request)
    try:
        minutes = float(data.get("minutes", ""))
    except ValueError:
        minutes = 0.0
    if not 0 < minutes <= 10080:  # also refuses NaN
        return back_to(_here(request), "Time not logged: give the minutes worked, e.g. 15")
    duration = duration_pb2.Duration(seconds=int(minutes * 60))
    await call(
        request,
        "tickets",
        "AddTimeEntry",
        tickets_api.AddTimeEntryRequest(
            request_id=data.get("request_id", ""),
            ticket_id=request.path_params["ticket_id"],
            time_entry=tickets_res.TimeEntry(
                duration=duration, note=data.get("note", ""), billable="billable" in data
            ),
        ),
    )
    return back_to(_here(request), "Time logged")


async def update(request: Request) -> Response:
    """UpdateTicket: the assignee, status and priority fields that changed (etag-checked)."""
    data = await form(request)
    ticket = tickets_res.Ticket(id=request.path_params["ticket_id"], etag=data.get("etag", ""))
    paths: list[str] = []
    if data.get("assignee", "") != data.get("was_assignee", ""):
        ticket.assignee = data.get("assignee", "")
        paths.append("assignee")
    if data.get("status") in _STATUS and data.get("status") != data.get("was_status"):
        ticket.status = _STATUS[data["status"]]
        paths.append("status")
    if data.get("priority") in _PRIORITY and data.get("priority") != data.get("was_priority"):
        ticket.priority = _PRIORITY[data["priority"]]
        paths.append("priority")
    if not paths:
        return back_to(_here(request), "Nothing changed")
    await call(
        request,
        "tickets",
        "UpdateTicket",
        tickets_api.UpdateTicketRequest(
            request_id=data.get("request_id", ""),
            ticket=ticket,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
    )
    return back_to(_here(request), "Ticket updated")


async def close(request: Request) -> Response:
    """CloseTicket, with an optional resolution (a public comment)."""
    data = await form(request)
    await call(
        request,
        "tickets",
        "CloseTicket",
        tickets_api.CloseTicketRequest(
            request_id=data.get("request_id", ""),
            ticket_id=request.path_params["ticket_id"],
            etag=data.get("etag", ""),
            resolution=data.get("resolution", ""),
        ),
    )
    return back_to(_here(request), "Ticket closed")


async def reopen(request: Request) -> Response:
    """ReopenTicket, with a reason (an internal comment)."""
    data = await form(request)
    await call(
        request,
        "tickets",
        "ReopenTicket",
        tickets_api.ReopenTicketRequest(
            request_id=data.get("request_id", ""),
            ticket_id=request.path_params["ticket_id"],
            etag=data.get("etag", ""),
            reason=data.get("reason", ""),
        ),
    )
    return back_to(_here(request), "Ticket reopened")


ROUTES = [
    page("/tickets", ticket_list),
    page("/tickets/{ticket_id}", ticket_page),
    action("/tickets/{ticket_id}/comment", comment),
    action("/tickets/{ticket_id}/time", log_time),
    action("/tickets/{ticket_id}/update", update),
    action("/tickets/{ticket_id}/close", close),
    action("/tickets/{ticket_id}/reopen", reopen),
]
