"""The rules service running in-process on the session's PostgreSQL and NATS, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
from sqlalchemy import select

from services.rules.models import SCHEMA, outbox
from services.rules.service import RulesService
from services.rules.service.clock import ManualClock
from services.rules.wiring import SPEC, build
from tests.consumer_lag import group_pending
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import events_pb2
from triage.rules.v1.rules_service_pb2_grpc import RulesServiceStub
from triage.runtime.app import Runtime
from triage.runtime.auth import TokenAuthority
from triage.runtime.bus import Bus
from triage.runtime.clients import open_channel
from triage.runtime.config import Settings
from triage.runtime.db import Database
from triage.runtime.events import new_envelope, to_timestamp, unpack
from triage.runtime.grpc_server import GrpcServer
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox, OutboxRelay

KEY = "test-signing-key-0123456789abcdef0123456789"
AUTHORITY = TokenAuthority(KEY)


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0) -> None:
    """Wait until ``check()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


def token(tenant_id: str | None, *scopes: str) -> list[tuple[str, str]]:
    """Call metadata for a user of ``tenant_id`` with ``scopes``."""
    issued = AUTHORITY.issue(subject="tester", tenant_id=tenant_id, scopes=scopes)
    return [("authorization", f"Bearer {issued}")]


def alert(
    tenant_id: str,
    *,
    series_key: str = "dev-1/disk",
    kind: int = ingest_pb.ALERT_KIND_TRIGGER,
    at: datetime,
    sequence: int = 0,
    **fields: Any,
) -> ingest_pb.AlertEvent:
    """A normalized alert event as ingest would publish it."""
    values: dict[str, Any] = {
        "alert_id": str(uuid.uuid4()),
        "tenant_id": tenant_id,
        "integration_id": "int-1",
        "provider": ingest_pb.PROVIDER_NINJAONE,
        "kind": kind,
        "series_key": series_key,
        "device_id": "dev-1",
        "device_name": "srv-db-01",
        "client_id": "acme",
        "client_name": "Acme",
        "condition": "disk.low",
        "severity": ingest_pb.SEVERITY_HIGH,
        "summary": "Disk C: low",
        "message": "Volume C: 97% used",
        "series_sequence": sequence,
        **fields,
    }
    event = ingest_pb.AlertEvent(**values)
    event.occurred_time.CopyFrom(to_timestamp(at))
    event.received_time.CopyFrom(to_timestamp(at))
    return event


@dataclass
class Rules:
    """A running rules service: gRPC server, consumers, relay and window-end task."""

    service: RulesService
    clock: ManualClock
    db: Database
    bus: Bus
    server: GrpcServer
    channel: Any
    stub: Any
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, db_url: str, nats_url: str, clock: ManualClock) -> Rules:
        """Migrate, connect, wire and start everything."""
        upgrade(db_url, schema=SCHEMA, script_location=str(SPEC.migrations))
        settings = Settings(service_name="rules", database_url=db_url, nats_url=nats_url)
        db = Database(db_url, schema=SCHEMA, pool_size=4)
        bus = await Bus.connect(nats_url, name="rules-test")
        for stream in ("TRIAGE_ALERT", "TRIAGE_TENANT"):
            await bus.js.purge_stream(stream)
            for info in await bus.js.consumers_info(stream):
                await bus.js.delete_consumer(stream, info.name)
        box = Outbox(outbox)
        server = GrpcServer(service="rules", host="127.0.0.1", port=0, authority=AUTHORITY)
        runtime = Runtime(settings, db, bus, box, AUTHORITY, server)
        service = build(runtime, clock)
        relay = OutboxRelay(db=db, bus=bus, outbox=box, service="rules", idle_poll_seconds=0.2)
        tasks = [asyncio.create_task(relay.run())]
        tasks += [asyncio.create_task(c.run()) for c in runtime.consumers]
        tasks += [asyncio.create_task(t()) for t in runtime.tasks]
        await server.start()
        channel = open_channel(f"127.0.0.1:{server.port}")
        return cls(service, clock, db, bus, server, channel, RulesServiceStub(channel), tasks)

    async def stop(self) -> None:
        """Stop everything started."""
        await self.channel.close()
        await self.server.stop(0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.close()
        await self.db.dispose()

    async def publish(
        self, event: ingest_pb.AlertEvent, *, event_id: str | None = None
    ) -> Envelope:
        """Publish an ``alert.received`` envelope for ``event``."""
        envelope = new_envelope(
            tenant_id=event.tenant_id,
            event_type="alert.received",
            payload=ingest_events.AlertReceived(alert=event),
            producer="ingest",
            ordering_key=event.series_key,
            event_id=event_id,
        )
        await self.bus.publish(envelope)
        return envelope

    async def publish_tenant(self, tenant_id: str, time_zone: str, at: datetime) -> None:
        """Publish a ``tenant.changed`` with the tenant's zone."""
        envelope = new_envelope(
            tenant_id=tenant_id,
            event_type="tenant.changed",
            payload=ingest_events.TenantChanged(
                change=ingest_events.TENANT_CHANGE_UPDATED,
                tenant=ingest_pb.Tenant(id=tenant_id, time_zone=time_zone),
            ),
            producer="ingest",
            occurred_at=at,
        )
        await self.bus.publish(envelope)

    async def routed(self) -> list[events_pb2.AlertRouted]:
        """Every ``alert.routed`` staged in the outbox, in order."""
        async with self.db.system_transaction() as session:
            rows = (
                await session.execute(
                    select(outbox.c.envelope)
                    .where(outbox.c.type == "alert.routed")
                    .order_by(outbox.c.id)
                )
            ).scalars()
            envelopes = [Envelope.FromString(r) for r in rows]
        return [unpack(e, events_pb2.AlertRouted) for e in envelopes]

    async def routed_for(self, alert_id: str, *, count: int = 1) -> list[events_pb2.AlertRouted]:
        """Wait until ``count`` decisions for ``alert_id`` are staged, and return them."""
        found: list[events_pb2.AlertRouted] = []

        async def enough() -> bool:
            nonlocal found
            found = [r for r in await self.routed() if r.alert.alert_id == alert_id]
            return len(found) >= count

        await poll(enough)
        return found

    async def drained(self) -> None:
        """Wait until the alert consumer has acked everything published so far."""

        async def idle() -> bool:
            with contextlib.suppress(Exception):
                return await group_pending(self.bus.js, "TRIAGE_ALERT", "rules-alert-received") == 0
            return False

        await poll(idle)

    def rpc(self, method: str) -> Any:
        """The stub method ``method``."""
        return getattr(self.stub, method)


def code_of(error: BaseException) -> grpc.StatusCode:
    """The status code of a failed call."""
    assert isinstance(error, grpc.aio.AioRpcError)
    return error.code()
