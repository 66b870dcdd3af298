"""The shared gRPC server: auth, error details, and one trace across a NATS hop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.runtime.harness import Demo, poll
from triage.runtime.auth import TokenAuthority, current_principal
from triage.runtime.clients import open_channel
from triage.runtime.errors import InvalidArgument
from triage.runtime.grpc_server import GrpcServer

pytestmark = pytest.mark.integration
AUTHORITY = TokenAuthority("test-signing-key-0123456789abcdef0123456789")


class Mesh:
    """A demo gRPC server whose Write method stores a note and emits an event."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.server = GrpcServer(service="demo", host="127.0.0.1", port=0, authority=AUTHORITY)

        async def write(request: bytes, context: object) -> bytes:
            tenant = current_principal().require_tenant()
            if not request:
                raise InvalidArgument.field("body", "must not be empty")
            return (await demo.write_note(tenant, request.decode())).encode()

        handler = grpc.method_handlers_generic_handler(
            "demo.Demo", {"Write": grpc.unary_unary_rpc_method_handler(write)}
        )
        self.server.add(lambda s: s.add_generic_rpc_handlers((handler,)), ["demo.Demo"])

    def call(self, channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable:  # type: ignore[type-arg]
        return channel.unary_unary("/demo.Demo/Write")  # type: ignore[call-arg]


@pytest.fixture
async def mesh(fresh_db: str, nats_url: str) -> AsyncIterator[Mesh]:
    demo = await Demo.start(fresh_db, nats_url)
    mesh = Mesh(demo)
    await mesh.server.start()
    try:
        yield mesh
    finally:
        await mesh.server.stop(0)
        await demo.stop()


async def test_call_without_token_is_unauthenticated(mesh: Mesh) -> None:
    async with open_channel(f"127.0.0.1:{mesh.server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await mesh.call(channel)(b"x")
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        forged = TokenAuthority("another-key-0123456789abcdef0123456789").issue(
            subject="u", tenant_id=str(uuid.uuid4()), scopes=[]
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await mesh.call(channel)(b"x", metadata=[("authorization", f"Bearer {forged}")])
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_domain_error_carries_field_violations(mesh: Mesh) -> None:
    token = AUTHORITY.issue(subject="u", tenant_id=str(uuid.uuid4()), scopes=[])
    async with open_channel(f"127.0.0.1:{mesh.server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await mesh.call(channel)(b"", metadata=[("authorization", f"Bearer {token}")])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    kinds = {d.type_url.rsplit("/", 1)[-1]: d for d in status.details}
    bad = error_details_pb2.BadRequest()
    kinds["google.rpc.BadRequest"].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("body", "must not be empty")
    ]
    info = error_details_pb2.ErrorInfo()
    kinds["google.rpc.ErrorInfo"].Unpack(info)
    assert info.reason == "INVALID_ARGUMENT"


async def test_health_is_public_and_serving(mesh: Mesh) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with open_channel(f"127.0.0.1:{mesh.server.port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="demo.Demo")
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_trace_continues_through_nats(mesh: Mesh, spans: InMemorySpanExporter) -> None:
    consumer = mesh.demo.consumer("traced")
    mesh.demo.tasks.append(asyncio.create_task(consumer.run()))
    token = AUTHORITY.issue(subject="u", tenant_id=str(uuid.uuid4()), scopes=[])
    async with open_channel(f"127.0.0.1:{mesh.server.port}") as channel:
        event_id = (
            await mesh.call(channel)(b"hello", metadata=[("authorization", f"Bearer {token}")])
        ).decode()

    async def consumed() -> bool:
        return await mesh.demo.effect_count(event_id) == 1 and any(
            s.name == "consume alert.received" for s in spans.get_finished_spans()
        )

    await poll(consumed)
    finished = spans.get_finished_spans()
    server = next(s for s in finished if s.name == "/demo.Demo/Write" and s.kind.name == "SERVER")
    client = next(s for s in finished if s.name == "/demo.Demo/Write" and s.kind.name == "CLIENT")
    publish = next(s for s in finished if s.name == "publish alert.received")
    consume = next(s for s in finished if s.name == "consume alert.received")
    assert server.context is not None and consume.context is not None
    assert client.context is not None and publish.context is not None
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert publish.parent is not None and publish.parent.span_id == server.context.span_id
    assert consume.parent is not None and consume.parent.span_id == publish.context.span_id
    assert consume.context.trace_id == client.context.trace_id


async def test_sql_statements_are_spans_of_the_calling_trace(
    mesh: Mesh, spans: InMemorySpanExporter
) -> None:
    token = AUTHORITY.issue(subject="u", tenant_id=str(uuid.uuid4()), scopes=[])
    async with open_channel(f"127.0.0.1:{mesh.server.port}") as channel:
        await mesh.call(channel)(b"hello", metadata=[("authorization", f"Bearer {token}")])
    finished = spans.get_finished_spans()
    server = next(s for s in finished if s.name == "/demo.Demo/Write" and s.kind.name == "SERVER")
    # The note's INSERT, and the outbox's (a WITH: the row and its pending id in one).
    inserts = [
        s
        for s in finished
        if s.name == "INSERT demo"
        or (
            s.name == "WITH demo"
            and "INSERT INTO demo.outbox " in str((s.attributes or {}).get("db.query.text"))
        )
    ]
    assert server.context is not None
    assert len(inserts) >= 2
    assert all(
        s.context is not None and s.context.trace_id == server.context.trace_id for s in inserts
    )
    assert all(s.attributes and s.attributes["db.system"] == "postgresql" for s in inserts)
