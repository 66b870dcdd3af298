"""A demo producer/consumer pair on the shared runtime, for the integration tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nats.js.errors
from google.protobuf import wrappers_pb2
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integration.runtime.demo_schema import SCHEMA, effects, inbox, notes, outbox
from triage.runtime.bus import Bus
from triage.runtime.consume import transactional_handler
from triage.runtime.consumer import BatchConsumer
from triage.runtime.db import Database
from triage.runtime.events import ReceivedEvent, new_envelope
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Inbox, Outbox, OutboxRelay

MIGRATIONS = str(Path(__file__).parent / "demo_migrations")


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


@dataclass
class Demo:
    """Database, bus, outbox and relay of the demo service."""

    db: Database
    bus: Bus
    outbox: Outbox
    relay: OutboxRelay
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, db_url: str, nats_url: str) -> Demo:
        """Migrate, connect and start the relay."""
        upgrade(db_url, schema=SCHEMA, script_location=MIGRATIONS)
        db = Database(db_url, schema=SCHEMA, pool_size=4)
        bus = await Bus.connect(nats_url, name="demo")
        for stream in ("TRIAGE_ALERT",):
            await bus.js.purge_stream(stream)
        box = Outbox(outbox)
        relay = OutboxRelay(db=db, bus=bus, outbox=box, service="demo", idle_poll_seconds=0.2)
        demo = cls(db, bus, box, relay)
        demo.tasks.append(asyncio.create_task(relay.run()))
        return demo

    async def write_note(self, tenant_id: str, body: str) -> str:
        """Insert a note and its ``alert.received`` event in one transaction."""
        envelope = new_envelope(
            tenant_id=tenant_id,
            event_type="alert.received",
            payload=wrappers_pb2.StringValue(value=body),
            producer="demo",
        )
        async with self.db.transaction(tenant_id) as session:
            await session.execute(
                notes.insert().values(id=str(uuid.uuid4()), tenant_id=tenant_id, body=body)
            )
            await self.outbox.add(session, envelope)
        return envelope.event_id

    def consumer(
        self,
        durable: str,
        *,
        after_effect: Callable[[ReceivedEvent], Awaitable[None]] | None = None,
        member: str | None = None,
        lease_tick_seconds: float = 0.2,
        lease_ttl_seconds: float = 2.0,
        fetch_timeout_seconds: float = 0.2,
        db: Database | None = None,
    ) -> BatchConsumer:
        """A consumer whose effect is one ``effects`` row per event."""

        async def apply(session: AsyncSession, event: ReceivedEvent) -> None:
            await session.execute(
                effects.insert().values(event_id=event.event_id, tenant_id=event.tenant_id)
            )

        handler = transactional_handler(self.db, Inbox(inbox, durable), apply)

        async def handle(events: Sequence[ReceivedEvent]) -> None:
            await handler(events)
            if after_effect is not None:
                for event in events:
                    await after_effect(event)

        return BatchConsumer(
            self.bus,
            db or self.db,
            service="demo",
            durable=durable,
            filter_subjects=["triage.alert.received.>"],
            handler=handle,
            batch_size=64,
            fetch_timeout_seconds=fetch_timeout_seconds,
            member=member,
            lease_tick_seconds=lease_tick_seconds,
            lease_ttl_seconds=lease_ttl_seconds,
        )

    async def applied_positions(self, durable: str) -> dict[int, int]:
        """Each partition's committed position in ``durable``'s lease rows."""
        async with self.db.system_transaction() as session:
            rows = (
                await session.execute(
                    text(
                        f"SELECT partition, position FROM {SCHEMA}.consumer_leases "
                        "WHERE consumer = :c"
                    ),
                    {"c": durable},
                )
            ).all()
        return {int(r.partition): int(r.position) for r in rows}

    async def stream_ends(self) -> dict[int, int]:
        """The last stream sequence of each partition that holds messages."""
        ends: dict[int, int] = {}
        for p in range(self.bus.partitions):
            try:
                msg = await self.bus.js.get_last_msg("TRIAGE_ALERT", f"triage.alert.received.*.{p}")
            except nats.js.errors.NotFoundError:
                continue
            if msg.seq is not None:
                ends[p] = msg.seq
        return ends

    async def caught_up(self, durable: str) -> bool:
        """Whether ``durable`` committed every message of the stream (by partition)."""
        applied = await self.applied_positions(durable)
        return all(applied.get(p, 0) >= seq for p, seq in (await self.stream_ends()).items())

    async def effect_count(self, event_id: str) -> int:
        """How many times the effect of ``event_id`` was applied."""
        async with self.db.system_transaction() as session:
            return int(
                (
                    await session.execute(
                        select(func.count())
                        .select_from(effects)
                        .where(effects.c.event_id == event_id)
                    )
                ).scalar_one()
            )

    async def stop(self) -> None:
        """Cancel tasks and close connections."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.close()
        await self.db.dispose()
