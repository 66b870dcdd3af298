"""The five services in the test's event loop, each one stoppable and restartable, and the
tenant data a test walks: every table of every schema with a ``tenant_id`` column."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
import psycopg
from sqlalchemy.engine import make_url

from tests.integration.contracts.mesh import _service
from tests.service_harness import RunningService
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.config import Peers
from triage.tenancy.v1 import offboarding_pb2 as off_api
from triage.tenancy.v1 import offboarding_pb2_grpc as off_grpc
from triage.tickets.v1 import tickets_service_pb2 as tickets_api
from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc

T = TypeVar("T")
NAMES = ("ingest", "notify", "rules", "tickets", "sla")
SCOPES = tuple(f"{name}:*" for name in NAMES)
Metadata = tuple[tuple[str, str], ...]


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, within: float = 60) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} not reached within {within} s"
        await asyncio.sleep(0.1)


@dataclass
class Cluster:
    """Running services (by name), started and stopped one by one."""

    database_url: str
    nats_url: str
    stack: contextlib.AsyncExitStack
    running: dict[str, RunningService] = field(default_factory=dict)
    _stops: dict[str, contextlib.AsyncExitStack] = field(default_factory=dict)
    _channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    async def start(self, name: str) -> None:
        """Start ``name`` (ingest and notify first: the others ask them)."""
        addresses = {
            n: self.running[n].grpc_address for n in ("ingest", "notify") if n in self.running
        }
        overrides = {"peers": Peers(addresses)} if addresses and name != "ingest" else {}
        own = contextlib.AsyncExitStack()
        self.running[name] = await own.enter_async_context(
            _service(name, self.database_url, self.nats_url, **overrides)
        )
        self._stops[name] = own
        channel = grpc.aio.insecure_channel(self.running[name].grpc_address)
        self._channels[name] = channel

    async def stop(self, name: str) -> None:
        """Stop ``name`` gracefully (its in-flight work is abandoned, not finished)."""
        await self._channels.pop(name).close(None)
        await self._stops.pop(name).aclose()
        del self.running[name]

    async def close(self) -> None:
        """Stop every service still running, last started first."""
        for name in reversed(list(self._stops)):
            await self.stop(name)

    def channel(self, name: str) -> grpc.aio.Channel:
        """An open channel to ``name``."""
        return self._channels[name]

    def admin(self) -> Metadata:
        """An administrator's call metadata."""
        return self.running["ingest"].admin_metadata()

    def tenant(self, tenant_id: str) -> Metadata:
        """A tenant's call metadata with every service scope."""
        return self.running["ingest"].metadata(tenant_id, *SCOPES)

    async def new_tenant(self, name: str) -> str:
        """Register a tenant; its id."""
        created = await tenant_grpc.TenantServiceStub(self.channel("ingest")).CreateTenant(
            tenant_api.CreateTenantRequest(tenant=ingest_pb.Tenant(display_name=name)),
            metadata=self.admin(),
        )
        return str(created.tenant.id)

    def offboarding(self) -> off_grpc.OffboardingServiceAsyncStub:
        """The deletion API (ingest)."""
        return off_grpc.OffboardingServiceStub(self.channel("ingest"))

    async def deletion(self, tenant_id: str) -> off_api.TenantDeletion:
        """Where the tenant's deletion stands."""
        reply = await self.offboarding().GetTenantDeletion(
            off_api.GetTenantDeletionRequest(tenant_id=tenant_id), metadata=self.admin()
        )
        return reply.deletion

    async def completed(self, tenant_id: str, within: float = 60) -> off_api.TenantDeletion:
        """Wait for the tenant's deletion to complete."""

        async def done() -> off_api.TenantDeletion | None:
            found = await self.deletion(tenant_id)
            return found if found.state == off_api.DELETION_STATE_COMPLETED else None

        return await eventually(done, f"deletion of {tenant_id}", within)


@contextlib.asynccontextmanager
async def cluster(database_url: str, nats_url: str) -> AsyncIterator[Cluster]:
    """Every service running; stopped on exit."""
    async with contextlib.AsyncExitStack() as stack:
        running = Cluster(database_url, nats_url, stack)
        stack.push_async_callback(running.close)
        for name in NAMES:
            await running.start(name)
        yield running


async def seed(running: Cluster, tenant_id: str) -> None:
    """Give the tenant rows in every service: a rule, an integration, an alert that opens a
    ticket (with its SLA clock), a notification channel."""
    md = running.tenant(tenant_id)
    await rules_grpc.RulesServiceStub(running.channel("rules")).CreateRule(
        rules_api.CreateRuleRequest(
            request_id=str(uuid.uuid4()),
            rule=rules_pb.Rule(
                display_name="Ticket every alert",
                actions=rules_pb.Actions(ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET),
            ),
        ),
        metadata=md,
    )
    await notify_grpc.NotifyServiceStub(running.channel("notify")).CreateChannel(
        notify_api.CreateChannelRequest(
            channel=notify_pb.Channel(
                display_name="ops hook",
                webhook=notify_pb.WebhookConfig(
                    url="http://127.0.0.1:9/hook", signing_secret="s" * 32
                ),
            )
        ),
        metadata=md,
    )
    ingest = ingest_grpc.IngestServiceStub(running.channel("ingest"))
    created = await ingest.CreateIntegration(
        ingest_api.CreateIntegrationRequest(
            integration=ingest_pb.Integration(
                provider=ingest_pb.PROVIDER_GENERIC, display_name="generic"
            )
        ),
        metadata=md,
    )
    await ingest.IngestAlerts(
        ingest_api.IngestAlertsRequest(
            alerts=[
                ingest_pb.AlertEvent(
                    integration_id=created.integration.id,
                    kind=ingest_pb.ALERT_KIND_TRIGGER,
                    series_key="disk-1",
                    condition="disk_full",
                    severity=ingest_pb.SEVERITY_HIGH,
                    summary="Disk full",
                )
            ],
        ),
        metadata=md,
    )
    tickets = tickets_grpc.TicketsServiceStub(running.channel("tickets"))

    async def opened() -> bool:
        reply = await tickets.ListTickets(tickets_api.ListTicketsRequest(page_size=10), metadata=md)
        return len(reply.tickets) == 1

    await eventually(opened, "the seeded alert's ticket")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def tenant_rows(database_url: str, tenant_id: str) -> dict[str, int]:
    """Rows of ``tenant_id`` in EVERY table of every schema that has a ``tenant_id`` column
    (found in information_schema, so a table nobody listed is walked too); tables with
    none are left out."""
    counts: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(_libpq(database_url)) as conn:
        tables = await (
            await conn.execute(
                "SELECT table_schema, table_name FROM information_schema.columns "
                "WHERE column_name = 'tenant_id' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY 1, 2"
            )
        ).fetchall()
        assert len(tables) > 20, tables
        for schema, table in tables:
            row = await (
                await conn.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE tenant_id::text = %s',
                    (tenant_id,),
                )
            ).fetchone()
            assert row is not None
            if row[0]:
                counts[f"{schema}.{table}"] = int(row[0])
    return counts
