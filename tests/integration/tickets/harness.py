"""The tickets service on a real PostgreSQL and NATS: two consumer replicas, relay, gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import grpc
from google.protobuf import duration_pb2
from nats.js.errors import NotFoundError
from sqlalchemy import select

from services.tickets import models
from services.tickets.api import SERVICE_NAME, TicketsApi
from services.tickets.domain.tickets import TenantSettings, Ticket
from services.tickets.events import ALERTS_DURABLE, SLA_DURABLE, alert_consumer, sla_consumer
from services.tickets.service import TicketService
from services.tickets.wiring import SPEC
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import events_pb2 as rules_events
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.runtime.auth import TokenAuthority
from triage.runtime.bus import Bus
from triage.runtime.clients import open_channel
from triage.runtime.db import Database
from triage.runtime.events import new_envelope, to_timestamp, unpack
from triage.runtime.grpc_server import GrpcServer
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox, OutboxRelay
from triage.tickets.v1 import events_pb2 as tickets_events
from triage.tickets.v1 import tickets_service_pb2_grpc as pb_grpc

AUTHORITY = TokenAuthority("tickets-test-signing-key-0123456789abcdef")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


def routed(
    tenant_id: str,
    *,
    kind: int = ingest_pb.ALERT_KIND_TRIGGER,
    device: str = "dev-1",
    condition: str = "disk-c",
    series: str = "int-1:series-1",
    occurred: datetime = T0,
    sequence: int = 0,
    decision_kind: int = rules_pb.DECISION_KIND_ROUTED,
    ticket_action: int = rules_pb.TICKET_ACTION_CREATE_TICKET,
    close_on_reset: bool | None = None,
    reset_in_rmm_on_close: bool | None = None,
    assignee: str = "",
    queue: str = "",
    persistence: tuple[int, timedelta] | None = None,
    labels: dict[str, str] | None = None,
) -> Envelope:
    """A real ``alert.routed`` envelope as the rules service publishes it."""
    actions = rules_pb.Actions(ticket_action=ticket_action, assignee=assignee, queue=queue)  # type: ignore[arg-type]
    if close_on_reset is not None:
        actions.close_on_reset = close_on_reset
    if reset_in_rmm_on_close is not None:
        actions.reset_in_rmm_on_close = reset_in_rmm_on_close
    if persistence is not None:
        within = duration_pb2.Duration()
        within.FromTimedelta(persistence[1])
        actions.persistence.CopyFrom(rules_pb.Persistence(count=persistence[0], within=within))
    alert = ingest_pb.AlertEvent(
        alert_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        integration_id="int-1",
        provider=ingest_pb.PROVIDER_NINJAONE,
        kind=kind,  # type: ignore[arg-type]
        series_key=series,
        device_id=device,
        device_name=device.upper(),
        client_id="client-1",
        client_name="Acme",
        condition=condition,
        condition_name="Disk space C:",
        severity=ingest_pb.SEVERITY_HIGH,
        summary="Disk C: below 10%",
        message="Free space is 4%",
        labels=labels or {},
        occurred_time=to_timestamp(occurred),
        series_sequence=sequence,
    )
    decision = rules_pb.Decision(
        kind=decision_kind,  # type: ignore[arg-type]
        rule_ids=["rule-1"] if decision_kind == rules_pb.DECISION_KIND_ROUTED else [],
        actions=actions,
        priority=2,  # type: ignore[arg-type]
        rendered_title=f"{device}: disk low",
    )
    return new_envelope(
        tenant_id=tenant_id,
        event_type="alert.routed",
        payload=rules_events.AlertRouted(alert=alert, decision=decision, rule_set_version=7),
        producer="rules",
        ordering_key=series,
    )


@dataclass
class Harness:
    """The tickets service's parts, started for a test module."""

    db: Database
    bus: Bus
    service: TicketService
    server: GrpcServer
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, db_url: str, nats_url: str, *, replicas: int = 2) -> Harness:
        """Migrate, connect, and start the relay, ``replicas`` consumers each, and gRPC."""
        upgrade(db_url, schema=models.SCHEMA, script_location=str(SPEC.migrations))
        db = Database(db_url, schema=models.SCHEMA, pool_size=8)
        bus = await Bus.connect(nats_url, name="tickets-test")
        for stream, durable in (("TRIAGE_ALERT", ALERTS_DURABLE), ("TRIAGE_SLA", SLA_DURABLE)):
            with contextlib.suppress(NotFoundError):
                await bus.js.delete_consumer(stream, durable)
        for stream in ("TRIAGE_ALERT", "TRIAGE_TICKET", "TRIAGE_SLA"):
            await bus.js.purge_stream(stream)
        outbox = Outbox(models.outbox)
        service = TicketService(db, outbox)
        server = GrpcServer(service="tickets", host="127.0.0.1", port=0, authority=AUTHORITY)
        server.add(
            partial(pb_grpc.add_TicketsServiceServicer_to_server, TicketsApi(service)),
            [SERVICE_NAME],
        )
        await server.start()
        harness = cls(db, bus, service, server)
        relay = OutboxRelay(db=db, bus=bus, outbox=outbox, service="tickets", idle_poll_seconds=0.2)
        harness.tasks.append(asyncio.create_task(relay.run()))
        for _ in range(replicas):
            for consumer in (
                alert_consumer(
                    bus,
                    db,
                    models.inbox,
                    service,
                    batch_size=8,
                    fetch_timeout_seconds=0.2,
                ),
                sla_consumer(
                    bus,
                    db,
                    models.inbox,
                    service.on_escalation,
                    batch_size=8,
                    fetch_timeout_seconds=0.2,
                ),
            ):
                harness.tasks.append(asyncio.create_task(consumer.run()))
        return harness

    async def stop(self) -> None:
        """Stop everything started."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.stop(0)
        await self.bus.close()
        await self.db.dispose()

    def stub(self, channel: grpc.aio.Channel) -> pb_grpc.TicketsServiceAsyncStub:
        """A TicketsService stub on ``channel``."""
        return pb_grpc.TicketsServiceStub(channel)

    def channel(self) -> grpc.aio.Channel:
        """A channel to the test server."""
        channel: grpc.aio.Channel = open_channel(f"127.0.0.1:{self.server.port}")
        return channel

    async def tickets(self, tenant_id: str) -> list[Ticket]:
        """Every ticket of ``tenant_id``, oldest first."""
        async with self.db.transaction(tenant_id) as session:
            rows = (
                await session.execute(select(models.tickets.c.id).order_by(models.tickets.c.number))
            ).scalars()
            ids = list(rows)
        return [await self.service.get_ticket(tenant_id=tenant_id, ref=i) for i in ids]

    async def wait_tickets(
        self, tenant_id: str, predicate: Callable[[list[Ticket]], bool], timeout: float = 10.0
    ) -> list[Ticket]:
        """Poll the tenant's tickets until ``predicate`` holds; return them."""
        found: list[Ticket] = []

        async def check() -> bool:
            nonlocal found
            found = await self.tickets(tenant_id)
            return predicate(found)

        await poll(check, timeout=timeout)
        return found

    async def events(self, tenant_id: str, event_type: str) -> list[Envelope]:
        """The events the service committed to its outbox for ``tenant_id``, in order."""
        o = models.outbox
        async with self.db.system_transaction() as session:
            rows = (
                await session.execute(
                    select(o.c.envelope)
                    .where(o.c.tenant_id == tenant_id, o.c.type == event_type)
                    .order_by(o.c.id)
                )
            ).scalars()
            return [Envelope.FromString(r) for r in rows]

    async def handled(self, tenant_id: str, event_id: str) -> bool:
        """Whether a consumer's inbox holds ``event_id``."""
        i = models.inbox
        async with self.db.transaction(tenant_id) as session:
            row = (
                await session.execute(select(i.c.event_id).where(i.c.event_id == event_id))
            ).first()
        return row is not None

    async def publish(self, envelope: Envelope) -> None:
        """Publish to NATS as the producing service's relay would."""
        await self.bus.publish(envelope)

    async def publish_and_wait(self, envelope: Envelope) -> None:
        """Publish and wait until a replica handled it."""
        await self.bus.publish(envelope)
        await poll(lambda: self.handled(envelope.tenant_id, envelope.event_id))

    async def put_settings(self, tenant_id: str, settings: TenantSettings) -> None:
        """Set the tenant's ticket settings."""
        await self.service.put_settings(tenant_id=tenant_id, settings=settings)


def closed_payload(envelope: Envelope) -> tickets_events.TicketClosed:
    """The payload of a ``ticket.closed`` envelope."""
    return unpack(envelope, tickets_events.TicketClosed)


def token(tenant_id: str, *scopes: str, subject: str = "alice") -> list[tuple[str, str]]:
    """Call metadata for a user of ``tenant_id``."""
    issued = AUTHORITY.issue(
        subject=subject, tenant_id=tenant_id, scopes=scopes or ["tickets:write"]
    )
    return [("authorization", f"Bearer {issued}")]


def new_tenant() -> str:
    """A fresh tenant id, so tests never see each other's data."""
    return str(uuid.uuid4())
