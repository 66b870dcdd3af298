"""TicketsService retries: a request repeated with its ``request_id`` gets the first answer.

Each test repeats a mutation the way a client whose reply got lost would, and checks both
the answer and what was stored (comments, time entries, history, outbox events), so a retry
that applied its effect again (or undid a later change) would fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from tests.integration.tickets.harness import Harness, new_tenant, token
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb

if TYPE_CHECKING:
    from triage.tickets.v1.tickets_service_pb2_grpc import TicketsServiceAsyncStub as Stub

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub(harness: Harness) -> AsyncIterator[Stub]:
    async with harness.channel() as channel:
        yield harness.stub(channel)


def rid() -> str:
    return str(uuid.uuid4())


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def minutes(n: int) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(minutes=n))
    return d


async def create(stub: Stub, tenant: str, title: str = "VPN down") -> res.Ticket:
    reply = await stub.CreateTicket(
        pb.CreateTicketRequest(ticket=res.Ticket(title=title)), metadata=token(tenant)
    )
    return reply.ticket


async def get(stub: Stub, tenant: str, ticket_id: str) -> res.Ticket:
    reply = await stub.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id), metadata=token(tenant))
    return reply.ticket


async def comments(stub: Stub, tenant: str, ticket_id: str) -> list[res.Comment]:
    reply = await stub.ListComments(
        pb.ListCommentsRequest(ticket_id=ticket_id), metadata=token(tenant)
    )
    return list(reply.comments)


async def history(stub: Stub, tenant: str, ticket_id: str) -> list[int]:
    reply = await stub.ListTicketHistory(
        pb.ListTicketHistoryRequest(ticket_id=ticket_id, page_size=1000), metadata=token(tenant)
    )
    return [h.kind for h in reply.history_entries]


def comment(body: str) -> res.Comment:
    return res.Comment(body=body, visibility=res.COMMENT_VISIBILITY_PUBLIC)


async def test_update_retry_after_a_later_update_keeps_the_later_one(
    harness: Harness, stub: Stub
) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    # No etag: a second application would succeed and silently put the first title back.
    first_request = pb.UpdateTicketRequest(
        request_id=rid(),
        ticket=res.Ticket(id=ticket.id, title="First title", priority=res.PRIORITY_P2),
        update_mask=mask("title", "priority"),
    )
    first = await stub.UpdateTicket(first_request, metadata=token(tenant))
    assert first.ticket.title == "First title"
    second = await stub.UpdateTicket(
        pb.UpdateTicketRequest(
            request_id=rid(),
            ticket=res.Ticket(id=ticket.id, title="Second title"),
            update_mask=mask("title"),
        ),
        metadata=token(tenant),
    )
    again = await stub.UpdateTicket(first_request, metadata=token(tenant))
    assert again == first
    got = await get(stub, tenant, ticket.id)
    assert (got.title, got.priority) == ("Second title", res.PRIORITY_P2)
    assert got.etag == second.ticket.etag
    assert await history(stub, tenant, ticket.id) == [
        res.HISTORY_KIND_CREATED,
        res.HISTORY_KIND_UPDATED,
        res.HISTORY_KIND_UPDATED,
    ]
    assert len(await harness.events(tenant, "ticket.updated")) == 2


async def test_update_retry_with_its_etag_is_not_aborted(stub: Stub) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    first_request = pb.UpdateTicketRequest(
        request_id=rid(),
        ticket=res.Ticket(id=ticket.id, etag=ticket.etag, assignee="carol"),
        update_mask=mask("assignee"),
    )
    first = await stub.UpdateTicket(first_request, metadata=token(tenant))
    second = await stub.UpdateTicket(
        pb.UpdateTicketRequest(
            request_id=rid(),
            ticket=res.Ticket(id=ticket.id, etag=first.ticket.etag, assignee="dave"),
            update_mask=mask("assignee"),
        ),
        metadata=token(tenant),
    )
    # The first request's etag is stale now: only a replay can answer it without ABORTED.
    assert await stub.UpdateTicket(first_request, metadata=token(tenant)) == first
    got = await get(stub, tenant, ticket.id)
    assert (got.assignee, got.etag) == ("dave", second.ticket.etag)


async def test_add_comment_retry_adds_one_comment(harness: Harness, stub: Stub) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    request = pb.AddCommentRequest(request_id=rid(), ticket_id=ticket.id, comment=comment("On it"))
    first = await stub.AddComment(request, metadata=token(tenant))
    later = await stub.AddComment(
        pb.AddCommentRequest(request_id=rid(), ticket_id=ticket.id, comment=comment("Fixed")),
        metadata=token(tenant),
    )
    again = await stub.AddComment(request, metadata=token(tenant))
    assert again == first
    assert [(c.id, c.body) for c in await comments(stub, tenant, ticket.id)] == [
        (first.comment.id, "On it"),
        (later.comment.id, "Fixed"),
    ]
    assert (await history(stub, tenant, ticket.id)).count(res.HISTORY_KIND_COMMENTED) == 2
    assert (await get(stub, tenant, ticket.id)).etag == later.ticket_etag
    assert len(await harness.events(tenant, "ticket.commented")) == 2


async def test_concurrent_add_comment_retries_add_one_comment(stub: Stub) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    request = pb.AddCommentRequest(request_id=rid(), ticket_id=ticket.id, comment=comment("On it"))
    replies = await asyncio.gather(
        *(stub.AddComment(request, metadata=token(tenant)) for _ in range(6))
    )
    assert all(r == replies[0] for r in replies)
    assert [c.id for c in await comments(stub, tenant, ticket.id)] == [replies[0].comment.id]


async def test_add_time_entry_retry_logs_the_time_once(stub: Stub) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    request = pb.AddTimeEntryRequest(
        request_id=rid(),
        ticket_id=ticket.id,
        time_entry=res.TimeEntry(duration=minutes(30), note="remote session", billable=True),
    )
    first = await stub.AddTimeEntry(request, metadata=token(tenant))
    later = await stub.AddTimeEntry(
        pb.AddTimeEntryRequest(
            request_id=rid(), ticket_id=ticket.id, time_entry=res.TimeEntry(duration=minutes(15))
        ),
        metadata=token(tenant),
    )
    again = await stub.AddTimeEntry(request, metadata=token(tenant))
    assert again == first
    listed = await stub.ListTimeEntries(
        pb.ListTimeEntriesRequest(ticket_id=ticket.id), metadata=token(tenant)
    )
    assert [(e.id, e.duration.ToTimedelta()) for e in listed.time_entries] == [
        (first.time_entry.id, timedelta(minutes=30)),
        (later.time_entry.id, timedelta(minutes=15)),
    ]
    assert (await history(stub, tenant, ticket.id)).count(res.HISTORY_KIND_TIME_LOGGED) == 2
    assert (await get(stub, tenant, ticket.id)).etag == later.ticket_etag


async def test_close_retry_answers_as_the_first_time(harness: Harness, stub: Stub) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    request = pb.CloseTicketRequest(
        request_id=rid(), ticket_id=ticket.id, etag=ticket.etag, resolution="Rebooted the VPN"
    )
    first = await stub.CloseTicket(request, metadata=token(tenant))
    assert first.ticket.status == res.TICKET_STATUS_CLOSED
    # Closed already, so a second application would be refused (and comment again).
    again = await stub.CloseTicket(request, metadata=token(tenant))
    assert again == first
    assert [c.body for c in await comments(stub, tenant, ticket.id)] == ["Rebooted the VPN"]
    assert (await history(stub, tenant, ticket.id)).count(res.HISTORY_KIND_CLOSED) == 1
    assert len(await harness.events(tenant, "ticket.closed")) == 1


async def test_close_retry_after_a_reopen_leaves_the_ticket_open(
    harness: Harness, stub: Stub
) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    close = pb.CloseTicketRequest(request_id=rid(), ticket_id=ticket.id)
    first = await stub.CloseTicket(close, metadata=token(tenant))
    reopened = await stub.ReopenTicket(
        pb.ReopenTicketRequest(request_id=rid(), ticket_id=ticket.id, reason="Down again"),
        metadata=token(tenant),
    )
    again = await stub.CloseTicket(close, metadata=token(tenant))
    assert again == first
    got = await get(stub, tenant, ticket.id)
    assert got.status == res.TICKET_STATUS_OPEN
    assert got.etag == reopened.ticket.etag
    assert len(await harness.events(tenant, "ticket.closed")) == 1


async def test_reopen_retry_answers_as_the_first_time(harness: Harness, stub: Stub) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    closed = await stub.CloseTicket(
        pb.CloseTicketRequest(request_id=rid(), ticket_id=ticket.id), metadata=token(tenant)
    )
    request = pb.ReopenTicketRequest(
        request_id=rid(), ticket_id=ticket.id, etag=closed.ticket.etag, reason="Down again"
    )
    first = await stub.ReopenTicket(request, metadata=token(tenant))
    assert (first.ticket.status, first.ticket.reopen_count) == (res.TICKET_STATUS_OPEN, 1)
    # Open already, so a second application would be refused (and comment again).
    again = await stub.ReopenTicket(request, metadata=token(tenant))
    assert again == first
    got = await get(stub, tenant, ticket.id)
    assert (got.reopen_count, got.etag) == (1, first.ticket.etag)
    assert [c.body for c in await comments(stub, tenant, ticket.id)] == ["Down again"]
    assert len(await harness.events(tenant, "ticket.reopened")) == 1


async def test_reopen_retry_after_a_later_close_leaves_the_ticket_closed(
    harness: Harness, stub: Stub
) -> None:
    tenant = new_tenant()
    ticket = await create(stub, tenant)
    await stub.CloseTicket(
        pb.CloseTicketRequest(request_id=rid(), ticket_id=ticket.id), metadata=token(tenant)
    )
    reopen = pb.ReopenTicketRequest(request_id=rid(), ticket_id=ticket.id, reason="Down again")
    first = await stub.ReopenTicket(reopen, metadata=token(tenant))
    closed_again = await stub.CloseTicket(
        pb.CloseTicketRequest(request_id=rid(), ticket_id=ticket.id), metadata=token(tenant)
    )
    again = await stub.ReopenTicket(reopen, metadata=token(tenant))
    assert again == first
    got = await get(stub, tenant, ticket.id)
    assert (got.status, got.reopen_count) == (res.TICKET_STATUS_CLOSED, 1)
    assert got.etag == closed_again.ticket.etag
    assert len(await harness.events(tenant, "ticket.reopened")) == 1
