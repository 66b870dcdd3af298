"""The TicketsService gRPC API: validation, etags, tenancy, idempotency, paging, lifecycle."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.tickets.harness import Harness, new_tenant, token
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb
from triage.tickets.v1 import tickets_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def _create(
    stub: pb_grpc.TicketsServiceAsyncStub, tenant: str, title: str = "Printer jam", **kw: object
) -> res.Ticket:
    reply = await stub.CreateTicket(
        pb.CreateTicketRequest(ticket=res.Ticket(title=title, **kw)),  # type: ignore[arg-type]
        metadata=token(tenant),
    )
    return reply.ticket


def _violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_manual_ticket_lifecycle(harness: Harness) -> None:
    tenant = new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        ticket = await _create(stub, tenant, queue="desk")
        assert (ticket.number, ticket.status, ticket.priority) == (
            1,
            res.TICKET_STATUS_NEW,
            res.PRIORITY_P3,
        )
        assert ticket.source == res.TICKET_SOURCE_MANUAL
        got = await stub.GetTicket(pb.GetTicketRequest(ticket_id="#1"), metadata=token(tenant))
        assert got.ticket.id == ticket.id
        updated = await stub.UpdateTicket(
            pb.UpdateTicketRequest(
                ticket=res.Ticket(
                    id=ticket.id, etag=ticket.etag, priority=res.PRIORITY_P1, assignee="carol"
                ),
                update_mask=_mask("priority", "assignee"),
            ),
            metadata=token(tenant),
        )
        assert updated.ticket.human_touched and updated.ticket.assignee == "carol"
        closed = await stub.CloseTicket(
            pb.CloseTicketRequest(ticket_id=ticket.id, resolution="Cleared the jam"),
            metadata=token(tenant),
        )
        assert closed.ticket.status == res.TICKET_STATUS_CLOSED
        assert closed.ticket.close_reason == res.CLOSE_REASON_MANUAL
        reopened = await stub.ReopenTicket(
            pb.ReopenTicketRequest(ticket_id=ticket.id, reason="Jammed again"),
            metadata=token(tenant),
        )
        assert reopened.ticket.status == res.TICKET_STATUS_OPEN
        assert reopened.ticket.reopen_count == 1
        comments = await stub.ListComments(
            pb.ListCommentsRequest(ticket_id=ticket.id), metadata=token(tenant)
        )
        assert [(c.body, c.visibility) for c in comments.comments] == [
            ("Cleared the jam", res.COMMENT_VISIBILITY_PUBLIC),
            ("Jammed again", res.COMMENT_VISIBILITY_INTERNAL),
        ]
        history = await stub.ListTicketHistory(
            pb.ListTicketHistoryRequest(ticket_id=ticket.id), metadata=token(tenant)
        )
        kinds = [h.kind for h in history.history_entries]
        assert kinds == [
            res.HISTORY_KIND_CREATED,
            res.HISTORY_KIND_UPDATED,
            res.HISTORY_KIND_COMMENTED,
            res.HISTORY_KIND_CLOSED,
            res.HISTORY_KIND_REOPENED,
            res.HISTORY_KIND_COMMENTED,
        ]
        changes = {c.field_path: (c.before, c.after) for c in history.history_entries[1].changes}
        assert changes == {"priority": ("P3", "P1"), "assignee": ("", "carol")}
        assert history.history_entries[1].cause == res.CHANGE_CAUSE_HUMAN
    assert [e.type for e in await harness.events(tenant, "ticket.closed")] == ["ticket.closed"]


async def test_stale_etag_is_aborted(harness: Harness) -> None:
    tenant = new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        ticket = await _create(stub, tenant)
        await stub.UpdateTicket(
            pb.UpdateTicketRequest(
                ticket=res.Ticket(id=ticket.id, etag=ticket.etag, title="Printer on fire"),
                update_mask=_mask("title"),
            ),
            metadata=token(tenant),
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTicket(
                pb.UpdateTicketRequest(
                    ticket=res.Ticket(id=ticket.id, etag=ticket.etag, title="Stale"),
                    update_mask=_mask("title"),
                ),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.ABORTED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CloseTicket(
                pb.CloseTicketRequest(ticket_id=ticket.id, etag=ticket.etag),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.ABORTED


async def test_another_tenants_ticket_is_not_found(harness: Harness) -> None:
    owner, other = new_tenant(), new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        ticket = await _create(stub, owner)
        for call in (
            stub.GetTicket(pb.GetTicketRequest(ticket_id=ticket.id), metadata=token(other)),
            stub.GetTicket(pb.GetTicketRequest(ticket_id="#1"), metadata=token(other)),
            stub.CloseTicket(pb.CloseTicketRequest(ticket_id=ticket.id), metadata=token(other)),
            stub.AddComment(
                pb.AddCommentRequest(
                    ticket_id=ticket.id,
                    comment=res.Comment(body="hi", visibility=res.COMMENT_VISIBILITY_PUBLIC),
                ),
                metadata=token(other),
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await stub.ListTickets(pb.ListTicketsRequest(), metadata=token(other))
        assert list(listed.tickets) == []


async def test_bad_input_names_the_fields(harness: Harness) -> None:
    tenant = new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateTicket(
                pb.CreateTicketRequest(ticket=res.Ticket(title=" ")), metadata=token(tenant)
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _violations(caught.value) == ["ticket.title"]
        ticket = await _create(stub, tenant)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTicket(
                pb.UpdateTicketRequest(
                    ticket=res.Ticket(id=ticket.id),
                    update_mask=_mask("priority", "number", "title"),
                ),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _violations(caught.value) == [
            "ticket.priority",
            "update_mask.paths[1]",
            "ticket.title",
        ]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AddComment(
                pb.AddCommentRequest(
                    ticket_id=ticket.id,
                    comment=res.Comment(body="x", author_kind=res.AUTHOR_KIND_SYSTEM),
                ),
                metadata=token(tenant),
            )
        assert _violations(caught.value) == ["comment.visibility", "comment.author_kind"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetTicket(pb.GetTicketRequest(ticket_id="nope"), metadata=token(tenant))
        assert _violations(caught.value) == ["ticket_id"]


async def test_request_id_retry_returns_the_first_answer(harness: Harness) -> None:
    tenant = new_tenant()
    request_id = str(uuid.uuid4())
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        request = pb.CreateTicketRequest(request_id=request_id, ticket=res.Ticket(title="VPN down"))
        first = await stub.CreateTicket(request, metadata=token(tenant))
        again = await stub.CreateTicket(request, metadata=token(tenant))
        assert again == first
        comment = pb.AddCommentRequest(
            request_id=str(uuid.uuid4()),
            ticket_id=first.ticket.id,
            comment=res.Comment(body="On it", visibility=res.COMMENT_VISIBILITY_PUBLIC),
        )
        one = await stub.AddComment(comment, metadata=token(tenant))
        two = await stub.AddComment(comment, metadata=token(tenant))
        assert one == two
        listed = await stub.ListComments(
            pb.ListCommentsRequest(ticket_id=first.ticket.id), metadata=token(tenant)
        )
        assert len(listed.comments) == 1
    assert len(await harness.tickets(tenant)) == 1


async def test_list_tickets_filters_and_pages(harness: Harness) -> None:
    tenant = new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        for i in range(5):
            await _create(stub, tenant, title=f"Mail issue {i}", queue="mail" if i % 2 else "desk")
        seen: list[int] = []
        page_token = ""
        while True:
            page = await stub.ListTickets(
                pb.ListTicketsRequest(page_size=2, page_token=page_token, query="mail"),
                metadata=token(tenant),
            )
            seen += [t.number for t in page.tickets]
            page_token = page.next_page_token
            if not page_token:
                break
        assert seen == [5, 4, 3, 2, 1]
        mail = await stub.ListTickets(pb.ListTicketsRequest(queue="mail"), metadata=token(tenant))
        assert [t.number for t in mail.tickets] == [4, 2]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListTickets(
                pb.ListTicketsRequest(
                    page_size=2, page_token=page.next_page_token or "x", queue="desk"
                ),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_read_scope_cannot_write(harness: Harness) -> None:
    tenant = new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateTicket(
                pb.CreateTicketRequest(ticket=res.Ticket(title="x")),
                metadata=token(tenant, "tickets:read"),
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        listed = await stub.ListTickets(
            pb.ListTicketsRequest(), metadata=token(tenant, "tickets:read")
        )
        assert list(listed.tickets) == []


async def test_closing_status_goes_through_the_close_path(harness: Harness) -> None:
    tenant = new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        ticket = await _create(stub, tenant)
        reply = await stub.UpdateTicket(
            pb.UpdateTicketRequest(
                ticket=res.Ticket(id=ticket.id, status=res.TICKET_STATUS_RESOLVED),
                update_mask=_mask("status"),
            ),
            metadata=token(tenant),
        )
        assert reply.ticket.status == res.TICKET_STATUS_RESOLVED
        assert reply.ticket.HasField("close_time")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTicket(
                pb.UpdateTicketRequest(
                    ticket=res.Ticket(id=ticket.id, status=res.TICKET_STATUS_OPEN),
                    update_mask=_mask("status"),
                ),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(await harness.events(tenant, "ticket.closed")) == 1
