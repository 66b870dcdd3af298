"""The sla service on a real PostgreSQL and NATS, driven by real ticket envelopes."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import func, select

from services.sla import events
from services.sla.api import SERVICE_NAME, SlaApi
from services.sla.models import SCHEMA, inbox, outbox
from services.sla.service import SlaService
from services.sla.service.time import ManualTime, TimeSource
from services.sla.wiring import SPEC
from services.sla.workers.timers import Scheduler
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.auth import TokenAuthority
from triage.runtime.bus import Bus
from triage.runtime.db import Database
from triage.runtime.events import new_envelope, to_timestamp, unpack
from triage.runtime.grpc_server import GrpcServer
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox
from triage.sla.v1.sla_service_pb2_grpc import add_SlaServiceServicer_to_server
from triage.tickets.v1 import events_pb2 as tev
from triage.tickets.v1 import resources_pb2 as tpb

AUTHORITY = TokenAuthority("sla-test-signing-key-0123456789abcdef0123")
M = TypeVar("M", bound=Message)
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


def token(tenant_id: str, *scopes: str) -> tuple[tuple[str, str | bytes], ...]:
    """Call metadata for a user of ``tenant_id`` with ``scopes``."""
    issued = AUTHORITY.issue(subject="tester", tenant_id=tenant_id, scopes=scopes)
    return (("authorization", f"Bearer {issued}"),)


@dataclass
class TicketMaker:
    """Builds tickets.v1 events for one ticket, remembering its state."""

    tenant_id: str
    ticket: tpb.Ticket

    @classmethod
    def new(
        cls,
        tenant_id: str,
        *,
        at: datetime,
        priority: int = 3,
        status: int = tpb.TICKET_STATUS_NEW,
        client_id: str = "",
        queue: str = "",
    ) -> TicketMaker:
        """A fresh ticket created at ``at``."""
        ticket = tpb.Ticket(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            number=1,
            title="Disk full on srv-01",
            client_id=client_id,
            client_name=client_id.upper(),
            queue=queue,
            priority=priority,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            create_time=to_timestamp(at),
            update_time=to_timestamp(at),
        )
        return cls(tenant_id, ticket)

    @property
    def id(self) -> str:
        """The ticket's id."""
        return self.ticket.id

    def _envelope(self, event_type: str, payload: Message, at: datetime) -> Envelope:
        return new_envelope(
            tenant_id=self.tenant_id,
            event_type=event_type,
            payload=payload,
            producer="tickets",
            ordering_key=self.ticket.id,
            occurred_at=at,
        )

    def occurred(self, at: datetime) -> Envelope:
        """``ticket.occurred``: the ticket's alert repeated at ``at``."""
        self.ticket.occurrence_count += 1
        self.ticket.update_time.CopyFrom(to_timestamp(at))
        return self._envelope(
            "ticket.occurred",
            tev.TicketOccurred(ticket=self.ticket, occurrence_count=self.ticket.occurrence_count),
            at,
        )

    def opened(self) -> Envelope:
        """``ticket.opened``."""
        at = self.ticket.create_time.ToDatetime(tzinfo=UTC)
        return self._envelope("ticket.opened", tev.TicketOpened(ticket=self.ticket), at)

    def update(self, at: datetime, *, human: bool = True, **changes: Any) -> Envelope:
        """``ticket.updated`` changing ``changes`` at ``at``."""
        before = tpb.Ticket()
        before.CopyFrom(self.ticket)
        for name, value in changes.items():
            setattr(self.ticket, name, value)
        self.ticket.update_time.CopyFrom(to_timestamp(at))
        after = tpb.Ticket()
        after.CopyFrom(self.ticket)
        return self._envelope(
            "ticket.updated",
            tev.TicketUpdated(
                before=before,
                after=after,
                changed_paths=sorted(changes),
                cause=tpb.CHANGE_CAUSE_HUMAN if human else tpb.CHANGE_CAUSE_SYSTEM,
                actor="tech" if human else "triage",
            ),
            at,
        )

    def comment(self, at: datetime, *, public: bool = True, human: bool = True) -> Envelope:
        """``ticket.commented`` at ``at``."""
        self.ticket.update_time.CopyFrom(to_timestamp(at))
        comment = tpb.Comment(
            id=str(uuid.uuid4()),
            ticket_id=self.ticket.id,
            body="Looking into it",
            visibility=tpb.COMMENT_VISIBILITY_PUBLIC if public else tpb.COMMENT_VISIBILITY_INTERNAL,
            author_kind=tpb.AUTHOR_KIND_HUMAN if human else tpb.AUTHOR_KIND_SYSTEM,
            author="tech" if human else "triage",
            create_time=to_timestamp(at),
        )
        return self._envelope(
            "ticket.commented",
            tev.TicketCommented(ticket=self.ticket, comment=comment, public=public, by_human=human),
            at,
        )

    def close(self, at: datetime, *, auto: bool = False) -> Envelope:
        """``ticket.closed`` at ``at``."""
        self.ticket.status = tpb.TICKET_STATUS_CLOSED
        self.ticket.update_time.CopyFrom(to_timestamp(at))
        self.ticket.close_time.CopyFrom(to_timestamp(at))
        return self._envelope(
            "ticket.closed",
            tev.TicketClosed(
                ticket=self.ticket,
                reason=tpb.CLOSE_REASON_ALERT_RESET if auto else tpb.CLOSE_REASON_MANUAL,
                auto=auto,
                actor="triage" if auto else "tech",
            ),
            at,
        )

    def merge(self, at: datetime, *, into: TicketMaker, incident_id: str = "") -> Envelope:
        """``ticket.closed`` at ``at`` because the ticket was merged into ``into``."""
        self.ticket.status = tpb.TICKET_STATUS_CLOSED
        self.ticket.update_time.CopyFrom(to_timestamp(at))
        self.ticket.close_time.CopyFrom(to_timestamp(at))
        return self._envelope(
            "ticket.closed",
            tev.TicketClosed(
                ticket=self.ticket,
                reason=tpb.CLOSE_REASON_MERGED,
                actor="tech",
                merged_into=tev.MergedInto(
                    ticket_id=into.id, ticket_number=into.ticket.number, incident_id=incident_id
                ),
            ),
            at,
        )

    def reopen(self, at: datetime, *, status: int = tpb.TICKET_STATUS_OPEN) -> Envelope:
        """``ticket.reopened`` at ``at``."""
        self.ticket.status = status  # type: ignore[assignment]
        self.ticket.reopen_count += 1
        self.ticket.update_time.CopyFrom(to_timestamp(at))
        self.ticket.ClearField("close_time")
        return self._envelope(
            "ticket.reopened",
            tev.TicketReopened(
                ticket=self.ticket, reason="again", cause=tpb.CHANGE_CAUSE_HUMAN, actor="tech"
            ),
            at,
        )


def tenant_changed(tenant_id: str, zone: str) -> Envelope:
    """``tenant.changed`` carrying ``zone``."""
    return new_envelope(
        tenant_id=tenant_id,
        event_type="tenant.changed",
        payload=ingest_events.TenantChanged(
            change=ingest_events.TENANT_CHANGE_CREATED,
            tenant=ingest_pb.Tenant(id=tenant_id, display_name="Acme MSP", time_zone=zone),
        ),
        producer="ingest",
    )


@dataclass
class Sla:
    """One sla service instance (service, consumers, optional scheduler and gRPC server)."""

    db: Database
    bus: Bus
    service: SlaService
    time: TimeSource
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    scheduler: Scheduler | None = None
    server: GrpcServer | None = None
    scheduler_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        db_url: str,
        nats_url: str,
        *,
        time_source: TimeSource | None = None,
        consume: bool = True,
        fresh_streams: bool = True,
        late_after: timedelta = timedelta(seconds=30),
    ) -> Sla:
        """Migrate, connect, and start the ticket and tenant consumers."""
        upgrade(db_url, schema=SCHEMA, script_location=str(SPEC.migrations))
        db = Database(db_url, schema=SCHEMA, pool_size=4)
        bus = await Bus.connect(nats_url, name="sla-test")
        if fresh_streams:
            for stream in ("TRIAGE_TICKET", "TRIAGE_TENANT"):
                await bus.js.purge_stream(stream)
                for durable in (events.TICKETS_DURABLE, events.TENANTS_DURABLE):
                    with contextlib.suppress(Exception):
                        await bus.js.delete_consumer(stream, durable)
        clock = time_source or ManualTime(T0)
        service = SlaService(db=db, outbox=Outbox(outbox), time=clock, late_after=late_after)
        sla = cls(db, bus, service, clock)
        if consume:
            for consumer in (
                events.ticket_consumer(
                    bus, db, inbox, service.on_ticket_changes, fetch_timeout_seconds=0.2
                ),
                events.tenant_consumer(
                    bus, db, inbox, service.on_tenant_zone, fetch_timeout_seconds=0.2
                ),
            ):
                sla.tasks.append(asyncio.create_task(consumer.run()))
        return sla

    @property
    def manual(self) -> ManualTime:
        """The controllable clock."""
        assert isinstance(self.time, ManualTime)
        return self.time

    async def serve(self) -> int:
        """Start a gRPC server with the SlaService; returns its port."""
        server = GrpcServer(service="sla", host="127.0.0.1", port=0, authority=AUTHORITY)
        server.add(partial(add_SlaServiceServicer_to_server, SlaApi(self.service)), [SERVICE_NAME])
        await server.start()
        self.server = server
        return server.port

    def start_scheduler(self, **options: Any) -> Scheduler:
        """Start a scheduler task on this instance."""
        self.scheduler = Scheduler(self.service, **options)
        self.scheduler_task = asyncio.create_task(self.scheduler.run())
        return self.scheduler

    async def stop_scheduler(self) -> None:
        """Cancel the scheduler task (a replica going away)."""
        if self.scheduler_task is not None:
            self.scheduler_task.cancel()
            await asyncio.gather(self.scheduler_task, return_exceptions=True)
            self.scheduler_task = None

    async def send(self, *envelopes: Envelope) -> None:
        """Publish envelopes and wait until the consumers handled each."""
        for envelope in envelopes:
            await self.bus.publish(envelope)
        ids = [e.event_id for e in envelopes]

        async def handled() -> bool:
            async with self.db.system_transaction() as session:
                count = (
                    await session.execute(
                        select(func.count()).select_from(inbox).where(inbox.c.event_id.in_(ids))
                    )
                ).scalar_one()
            return int(count) == len(set(ids))

        await poll(handled)

    async def emitted(self, event_type: str, message_type: type[M]) -> list[M]:
        """Payloads of ``event_type`` staged in the outbox, in order."""
        async with self.db.system_transaction() as session:
            rows = (
                await session.execute(
                    select(outbox.c.envelope)
                    .where(outbox.c.type == event_type)
                    .order_by(outbox.c.id)
                )
            ).all()
        found: list[M] = []
        for row in rows:
            envelope = Envelope()
            envelope.ParseFromString(row.envelope)
            found.append(unpack(envelope, message_type))
        return found

    async def stop(self) -> None:
        """Stop everything started."""
        await self.stop_scheduler()
        if self.server is not None:
            await self.server.stop(0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.close()
        await self.db.dispose()
