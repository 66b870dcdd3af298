"""SlaService.BatchGetTicketSla: many tickets' clocks in one call, tenant-scoped, bounded."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.sla.harness import AUTHORITY, T0, Sla, TicketMaker, token
from triage.cli.main import main
from triage.runtime.clients import open_channel
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub

if TYPE_CHECKING:
    from triage.sla.v1.sla_service_pb2_grpc import SlaServiceAsyncStub

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub(sla: Sla) -> AsyncIterator[SlaServiceAsyncStub]:
    port = await sla.serve()
    async with open_channel(f"127.0.0.1:{port}") as channel:
        yield SlaServiceStub(channel)


def _fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    bad = error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            detail.Unpack(bad)
    return [v.field for v in bad.field_violations]


async def test_batch_matches_single_reads_in_order_and_hides_other_tenants(
    sla: Sla, stub: SlaServiceAsyncStub, tenant: str
) -> None:
    stranger = str(uuid.uuid4())
    mine = [TicketMaker.new(tenant, at=T0, priority=p) for p in (1, 3, 5)]
    theirs = TicketMaker.new(stranger, at=T0)
    await sla.send(*(t.opened() for t in mine), theirs.opened())
    auth = token(tenant, "sla:read")
    asked = [mine[2].id, str(uuid.uuid4()), theirs.id, mine[0].id, mine[1].id]
    got = await stub.BatchGetTicketSla(
        api.BatchGetTicketSlaRequest(ticket_ids=asked), metadata=auth
    )
    assert [s.ticket.ticket_id for s in got.ticket_slas] == [mine[2].id, mine[0].id, mine[1].id]
    for batch in got.ticket_slas:
        single = await stub.GetTicketSla(
            api.GetTicketSlaRequest(ticket_id=batch.ticket.ticket_id), metadata=auth
        )
        assert [(c.kind, c.state, c.due_time) for c in batch.clocks] == [
            (c.kind, c.state, c.due_time) for c in single.ticket_sla.clocks
        ]
        assert batch.clocks and batch.clocks[0].state == pb.SLA_STATE_RUNNING


async def test_batch_bounds_are_field_violations_and_scope_is_checked(
    sla: Sla, stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:read")
    for ids in ([], ["not-a-uuid"], [str(uuid.uuid4()) for _ in range(201)]):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.BatchGetTicketSla(
                api.BatchGetTicketSlaRequest(ticket_ids=ids), metadata=auth
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert any(f.startswith("ticket_ids") for f in _fields(bad.value))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.BatchGetTicketSla(
            api.BatchGetTicketSlaRequest(ticket_ids=[str(uuid.uuid4())]),
            metadata=token(tenant, "tickets:read"),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_cli_show_many(sla: Sla, tenant: str, capsys: pytest.CaptureFixture[str]) -> None:
    port = await sla.serve()
    tickets = [TicketMaker.new(tenant, at=T0, priority=2) for _ in range(2)]
    await sla.send(*(t.opened() for t in tickets))
    issued = AUTHORITY.issue(subject="cli", tenant_id=tenant, scopes=["sla:read"])
    capsys.readouterr()
    argv = ["--sla-addr", f"127.0.0.1:{port}", "--token", issued, "sla", "show-many"]
    code = await asyncio.to_thread(main, [*argv, *(t.id for t in tickets), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [s["ticket"]["ticket_id"] for s in json.loads(out)["ticket_slas"]] == [
        t.id for t in tickets
    ]
