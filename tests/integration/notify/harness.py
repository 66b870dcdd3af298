"""The notify service against real PostgreSQL and NATS, with a controllable clock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from sqlalchemy import select

from services.notify.models import SCHEMA, attempts, channel_state, deliveries, outbox
from services.notify.service.jobs import WorkerOptions
from services.notify.wiring import Notify, build
from tests.consumer_lag import group_pending
from triage.events.v1.envelope_pb2 import Envelope
from triage.notify.v1 import notify_service_pb2_grpc
from triage.runtime.auth import TokenAuthority
from triage.runtime.bus import Bus
from triage.runtime.db import Database
from triage.runtime.events import new_envelope
from triage.runtime.grpc_server import GrpcServer
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox, OutboxRelay
from triage.runtime.secrets import SecretBox
from triage.tickets.v1 import events_pb2 as ticket_events
from triage.tickets.v1 import resources_pb2 as tickets_pb

MIGRATIONS = str(Path(__file__).resolve().parents[3] / "services" / "notify" / "migrations")
AUTHORITY = TokenAuthority("notify-test-signing-key-0123456789abcdef")


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


class Clock:
    """A clock tests move by hand (or that follows real time when ``frozen`` is False)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.frozen = start is not None
        self._now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self._now if self.frozen else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self._now = moment


def fast_options(**overrides: Any) -> WorkerOptions:
    """Worker options with test-sized times."""
    values: dict[str, Any] = {
        "idle_poll_seconds": 0.2,
        "backoff_base_seconds": 0.05,
        "backoff_cap_seconds": 0.2,
        "lease": timedelta(seconds=30),
    }
    values.update(overrides)
    return WorkerOptions(**values)


@dataclass
class Harness:
    """One notify instance for one tenant, with its gRPC server."""

    db: Database
    bus: Bus
    notify: Notify
    server: GrpcServer
    tenant_id: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        db_url: str,
        nats_url: str,
        *,
        clock: Callable[[], datetime] | None = None,
        options: WorkerOptions | None = None,
        run_worker: bool = True,
    ) -> Harness:
        """Migrate, connect, wire and start consumers, worker, relay and gRPC."""
        await asyncio.to_thread(upgrade, db_url, schema=SCHEMA, script_location=MIGRATIONS)
        db = Database(db_url, schema=SCHEMA, pool_size=6)
        bus = await Bus.connect(nats_url, name="notify-test")
        box = SecretBox(os.urandom(32))
        tenant_id = str(uuid.uuid4())
        box_outbox = Outbox(outbox)
        notify = build(
            db=db,
            bus=bus,
            outbox=box_outbox,
            box=box,
            clock=clock or (lambda: datetime.now(UTC)),
            options=options or fast_options(),
            tenant=tenant_id,
            durable_suffix=f"-{uuid.uuid4().hex[:10]}",
            batch_size=64,
            fetch_timeout_seconds=0.2,
        )
        server = GrpcServer(service="notify", host="127.0.0.1", port=0, authority=AUTHORITY)
        server.add(
            partial(notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, notify.api),
            ["triage.notify.v1.NotifyService"],
        )
        await server.start()
        relay = OutboxRelay(
            db=db, bus=bus, outbox=box_outbox, service="notify", idle_poll_seconds=0.2
        )
        harness = cls(db, bus, notify, server, tenant_id)
        harness.tasks.append(asyncio.create_task(relay.run()))
        for consumer in notify.consumers:
            harness.tasks.append(asyncio.create_task(consumer.run()))
        if run_worker:
            harness.tasks.append(asyncio.create_task(notify.worker.run()))
        return harness

    async def stop(self) -> None:
        """Stop everything and remove the durable consumers."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.stop(0)
        await self.notify.close()
        for consumer in self.notify.consumers:
            for stream in ("TRIAGE_ALERT", "TRIAGE_TICKET", "TRIAGE_SLA", "TRIAGE_TENANT"):
                with contextlib.suppress(Exception):
                    await self.bus.js.delete_consumer(stream, consumer.durable)
        await self.bus.close()
        await self.db.dispose()

    def metadata(
        self, tenant_id: str | None = None, scopes: Sequence[str] = ("notify:write",)
    ) -> list[tuple[str, str]]:
        """Call metadata for a user of ``tenant_id`` (default: the harness tenant)."""
        token = AUTHORITY.issue(
            subject="user@test", tenant_id=tenant_id or self.tenant_id, scopes=scopes
        )
        return [("authorization", f"Bearer {token}")]

    def channel(self) -> grpc.aio.Channel:
        """A client channel to the gRPC server."""
        return grpc.aio.insecure_channel(f"127.0.0.1:{self.server.port}")

    async def publish(
        self, event_type: str, payload: Message, *, event_id: str | None = None
    ) -> Envelope:
        """Publish an event of the harness tenant to JetStream."""
        envelope = new_envelope(
            tenant_id=self.tenant_id,
            event_type=event_type,
            payload=payload,
            producer="test",
            event_id=event_id,
        )
        await self.bus.publish(envelope)
        return envelope

    async def deliveries(self, event_id: str | None = None) -> list[Any]:
        """Deliveries of the tenant (of one event), oldest first."""
        query = select(*deliveries.c).where(deliveries.c.tenant_id == self.tenant_id)
        if event_id:
            query = query.where(deliveries.c.event_id == event_id)
        async with self.db.system_transaction() as session:
            rows = (await session.execute(query.order_by(deliveries.c.created_at))).all()
        return [r._mapping for r in rows]

    async def attempts(self, delivery_id: str) -> list[Any]:
        """Attempts of a delivery, oldest first."""
        async with self.db.system_transaction() as session:
            rows = (
                await session.execute(
                    select(*attempts.c)
                    .where(attempts.c.delivery_id == delivery_id)
                    .order_by(attempts.c.number)
                )
            ).all()
        return [r._mapping for r in rows]

    async def outbox_types(self) -> Counter[str]:
        """How many events of each type the tenant's deliveries announced."""
        async with self.db.system_transaction() as session:
            types = (
                await session.execute(
                    select(outbox.c.type).where(outbox.c.tenant_id == self.tenant_id)
                )
            ).scalars()
            return Counter(types)

    async def breaker_state(self, channel_id: str) -> str:
        """The stored breaker state of a channel."""
        async with self.db.system_transaction() as session:
            state = (
                await session.execute(
                    select(channel_state.c.breaker_state).where(
                        channel_state.c.channel_id == channel_id
                    )
                )
            ).scalar_one()
        return str(state)

    async def idle(self) -> bool:
        """Whether every consumer has handled and acked everything it was sent."""
        for consumer, stream in zip(
            self.notify.consumers,
            ("TRIAGE_ALERT", "TRIAGE_TICKET", "TRIAGE_SLA", "TRIAGE_TENANT"),
            strict=True,
        ):
            if await group_pending(self.bus.js, stream, consumer.durable):
                return False
        return True


def ticket(number: int = 1042, **overrides: Any) -> tickets_pb.Ticket:
    """A ticket as the tickets service would carry it in an event."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "number": number,
        "title": "Disk C: almost full on ACME-DC01",
        "description": "Free space 2% (threshold 5%)",
        "client_id": "acme",
        "client_name": "Acme",
        "device_name": "ACME-DC01",
        "priority": tickets_pb.PRIORITY_P2,
        "severity": 4,
        "queue": "servers",
    }
    values.update(overrides)
    return tickets_pb.Ticket(**values)


def opened(number: int = 1042, **overrides: Any) -> ticket_events.TicketOpened:
    """A ``ticket.opened`` payload."""
    return ticket_events.TicketOpened(ticket=ticket(number, **overrides))
