"""The server interceptor's answers to bad requests: contract violations and overflows are
INVALID_ARGUMENT with their details, before any handler code runs."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from triage.runtime.auth import TokenAuthority
from triage.runtime.grpc_server import TriageServerInterceptor
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

KEY = "interceptor-test-signing-key-0123456789abcdef"


class Aborted(Exception):
    """What ``abort_with_status`` raises here, as grpc.aio raises AbortError."""


class Context:
    """The two things the interceptor asks of a grpc.aio servicer context."""

    def __init__(self, token: str) -> None:
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.status: Any = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    async def abort_with_status(self, status: Any) -> None:
        self.status = status
        raise Aborted


def wrapped(handler: Any) -> Any:
    authority = TokenAuthority(KEY)
    interceptor = TriageServerInterceptor(authority, "test")
    return interceptor._wrap(handler, "/triage.tickets.v1.TicketsService/CreateTicket")


def context() -> Context:
    token = TokenAuthority(KEY).issue(subject="t", tenant_id="t1", scopes=["tickets:write"])
    return Context(token)


def details(ctx: Context) -> tuple[grpc.StatusCode, dict[str, str]]:
    """The aborted call's code and its BadRequest field violations."""
    packed = dict(ctx.status.trailing_metadata)["grpc-status-details-bin"]
    found: dict[str, str] = {}
    for detail in status_pb2.Status.FromString(packed).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return ctx.status.code, found


async def test_a_contract_violation_never_reaches_the_handler() -> None:
    reached = []

    async def handler(request: Any, ctx: Any) -> Any:
        reached.append(request)

    ctx = context()
    request = tickets_api.CreateTicketRequest(ticket=tickets_pb.Ticket(title="a\x00b"))
    with pytest.raises(Aborted):
        await wrapped(handler)(request, ctx)
    assert not reached
    code, found = details(ctx)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert found == {"ticket.title": "must not contain NUL characters"}


async def test_an_overflow_in_a_handler_is_the_callers_error() -> None:
    async def handler(request: Any, ctx: Any) -> Any:
        raise OverflowError("date value out of range")

    ctx = context()
    with pytest.raises(Aborted):
        await wrapped(handler)(tickets_api.CreateTicketRequest(), ctx)
    assert ctx.status.code == grpc.StatusCode.INVALID_ARGUMENT
