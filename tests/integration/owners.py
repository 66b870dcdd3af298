"""ingest and notify running for real, as the owners that other services ask about a
tenant's standing, integrations and channels; and a service started with them as peers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2

from services.ingest.models import SCHEMA as INGEST_SCHEMA
from services.ingest.models import outbox as ingest_outbox
from services.ingest.wiring import wire as wire_ingest
from services.notify.models import SCHEMA as NOTIFY_SCHEMA
from services.notify.models import outbox as notify_outbox
from services.notify.wiring import wire as wire_notify
from tests.service_harness import RunningService, running_service
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.runtime.app import Runtime
from triage.runtime.config import Peers
from triage.runtime.outbox import Outbox

SERVICES = Path(__file__).resolve().parents[2] / "services"


@dataclass
class Owners:
    """Running ingest and notify, with helpers that create what a tenant owns."""

    ingest: RunningService
    notify: RunningService
    database_url: str

    @property
    def peers(self) -> Peers:
        """Peer addresses for a service that asks these two."""
        return Peers({"ingest": self.ingest.grpc_address, "notify": self.notify.grpc_address})

    async def tenant(self, name: str = "Acme MSP") -> str:
        """Register a tenant; returns its id."""
        async with grpc.aio.insecure_channel(self.ingest.grpc_address) as channel:
            reply = await tenant_grpc.TenantServiceStub(channel).CreateTenant(
                tenant_api.CreateTenantRequest(tenant=ingest_pb.Tenant(display_name=name)),
                metadata=self.ingest.admin_metadata(),
            )
        return str(reply.tenant.id)

    async def suspend(self, tenant_id: str) -> None:
        """Suspend a tenant through UpdateTenant, as an operator does."""
        async with grpc.aio.insecure_channel(self.ingest.grpc_address) as channel:
            await tenant_grpc.TenantServiceStub(channel).UpdateTenant(
                tenant_api.UpdateTenantRequest(
                    tenant=ingest_pb.Tenant(id=tenant_id, state=ingest_pb.TENANT_STATE_SUSPENDED),
                    update_mask=field_mask_pb2.FieldMask(paths=["state"]),
                ),
                metadata=self.ingest.admin_metadata(),
            )

    async def integration(self, tenant_id: str) -> str:
        """Create an integration of the tenant; returns its id."""
        async with grpc.aio.insecure_channel(self.ingest.grpc_address) as channel:
            reply = await ingest_grpc.IngestServiceStub(channel).CreateIntegration(
                ingest_api.CreateIntegrationRequest(
                    integration=ingest_pb.Integration(
                        provider=ingest_pb.PROVIDER_GENERIC, display_name="generic"
                    )
                ),
                metadata=self.ingest.metadata(tenant_id, "ingest:write"),
            )
        return str(reply.integration.id)

    async def channel(self, tenant_id: str) -> str:
        """Create a webhook channel of the tenant; returns its id."""
        async with grpc.aio.insecure_channel(self.notify.grpc_address) as channel:
            reply = await notify_grpc.NotifyServiceStub(channel).CreateChannel(
                notify_api.CreateChannelRequest(
                    channel=notify_pb.Channel(
                        display_name="ops hook",
                        webhook=notify_pb.WebhookConfig(
                            url="http://127.0.0.1:9/hook", signing_secret="whsec-test-0123456789"
                        ),
                    )
                ),
                metadata=self.notify.metadata(tenant_id, "notify:write"),
            )
        return str(reply.channel.id)


@contextlib.asynccontextmanager
async def owners(database_url: str, nats_url: str) -> AsyncIterator[Owners]:
    """ingest and notify serving on free ports (notify asks ingest about tenants)."""
    async with (
        running_service(
            name="ingest",
            schema=INGEST_SCHEMA,
            outbox=Outbox(ingest_outbox),
            wire=wire_ingest,
            migrations=SERVICES / "ingest" / "migrations",
            database_url=database_url,
            nats_url=nats_url,
        ) as ingest,
        running_service(
            name="notify",
            schema=NOTIFY_SCHEMA,
            outbox=Outbox(notify_outbox),
            wire=wire_notify,
            migrations=SERVICES / "notify" / "migrations",
            database_url=database_url,
            nats_url=nats_url,
            peers=Peers({"ingest": ingest.grpc_address}),
        ) as notify,
    ):
        yield Owners(ingest, notify, database_url)


@contextlib.asynccontextmanager
async def asking(
    found: Owners,
    *,
    name: str,
    schema: str,
    outbox: Outbox,
    wire: Callable[[Runtime], Awaitable[None]],
    nats_url: str,
) -> AsyncIterator[RunningService]:
    """Another service, wired as in production, whose peers are ``found``."""
    async with running_service(
        name=name,
        schema=schema,
        outbox=outbox,
        wire=wire,
        migrations=SERVICES / name / "migrations",
        database_url=found.database_url,
        nats_url=nats_url,
        peers=found.peers,
    ) as running:
        yield running
