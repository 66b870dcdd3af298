"""All five services serving in the test's event loop on one database, and a caller for them."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from tests.service_harness import RunningService, running_service
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.runtime.config import Peers
from triage.runtime.outbox import Outbox

#: Owners first: the others ask ingest and notify about a tenant's integrations and channels.
ORDER = ("ingest", "notify", "rules", "tickets", "sla")
SCOPES = (*(f"{name}:*" for name in ORDER), "audit:read")
#: Which running service serves each gRPC service.
SERVES = {
    "triage.ingest.v1.IngestService": "ingest",
    "triage.ingest.v1.TenantService": "ingest",
    "triage.rules.v1.RulesService": "rules",
    "triage.tickets.v1.TicketsService": "tickets",
    "triage.sla.v1.SlaService": "sla",
    "triage.notify.v1.NotifyService": "notify",
    # Every service serves its own audit log; the walk asks one of them.
    "triage.audit.v1.AuditService": "rules",
    # Every service serves its own tenant export; the walk asks ingest (the offboarding
    # tests call all five). Deletions are ingest's.
    "triage.tenancy.v1.TenantDataService": "ingest",
    "triage.tenancy.v1.OffboardingService": "ingest",
}


@dataclass
class Mesh:
    """The running services, one open channel to each, and a tenant's call metadata."""

    services: dict[str, RunningService]
    channels: dict[str, grpc.aio.Channel]
    metadata: tuple[tuple[str, str], ...]

    async def send(
        self,
        rpc: str,
        request: Any,
        *,
        timeout: float = 5.0,
        metadata: tuple[tuple[str, str], ...] | None = None,
    ) -> grpc.aio.AioRpcError | None:
        """Send ``request`` to ``rpc`` (``/pkg.Service/Method``), as the tenant unless
        ``metadata`` says otherwise; the error, or None on OK."""
        service = SERVES[rpc.split("/")[1]]
        method = self.channels[service].unary_unary(
            rpc, request_serializer=lambda m: m.SerializeToString(), response_deserializer=bytes
        )
        try:
            await method(request, metadata=metadata or self.metadata, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            return error
        return None

    async def error(
        self, rpc: str, request: Any, metadata: tuple[tuple[str, str], ...] | None = None
    ) -> grpc.aio.AioRpcError:
        """The error ``rpc`` answers ``request`` with; fails if it answers OK."""
        error = await self.send(rpc, request, metadata=metadata)
        if error is None:
            raise AssertionError(f"{rpc} accepted {request!r:.200}")
        return error


@contextlib.asynccontextmanager
async def _service(
    name: str, database_url: str, nats_url: str, **overrides: Any
) -> AsyncIterator[RunningService]:
    models = importlib.import_module(f"services.{name}.models")
    wiring = importlib.import_module(f"services.{name}.wiring")
    async with running_service(
        name=name,
        schema=models.SCHEMA,
        outbox=Outbox(models.outbox),
        wire=wiring.wire,
        migrations=Path(str(models.__file__)).parent / "migrations",
        database_url=database_url,
        nats_url=nats_url,
        **overrides,
    ) as running:
        yield running


@contextlib.asynccontextmanager
async def mesh(database_url: str, nats_url: str) -> AsyncIterator[Mesh]:
    """Start every service, register a tenant, yield, stop them all."""
    async with contextlib.AsyncExitStack() as stack:
        services: dict[str, RunningService] = {}
        services["ingest"] = await stack.enter_async_context(
            _service("ingest", database_url, nats_url)
        )
        # notify asks ingest whether a token's tenant is registered.
        services["notify"] = await stack.enter_async_context(
            _service(
                "notify",
                database_url,
                nats_url,
                peers=Peers({"ingest": services["ingest"].grpc_address}),
            )
        )
        peers = Peers(
            {"ingest": services["ingest"].grpc_address, "notify": services["notify"].grpc_address}
        )
        for name in ORDER[2:]:
            services[name] = await stack.enter_async_context(
                _service(name, database_url, nats_url, peers=peers)
            )
        channels = {
            name: await stack.enter_async_context(grpc.aio.insecure_channel(s.grpc_address))
            for name, s in services.items()
        }
        ingest = services["ingest"]
        created = await tenant_grpc.TenantServiceStub(channels["ingest"]).CreateTenant(
            tenant_api.CreateTenantRequest(tenant=ingest_pb.Tenant(display_name="walker")),
            metadata=ingest.admin_metadata(),
        )
        yield Mesh(services, channels, ingest.metadata(created.tenant.id, *SCOPES))
