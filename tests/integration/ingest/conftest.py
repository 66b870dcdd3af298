"""An ingest service running in-process, with a tenant and helpers to call it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from services.ingest.models import SCHEMA, outbox
from services.ingest.wiring import wire
from tests.service_harness import RunningService, running_service
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc
from triage.runtime.outbox import Outbox

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "ingest" / "migrations"


@dataclass
class Ingest:
    """The running service, a gRPC channel, an HTTP client and a tenant."""

    svc: RunningService
    channel: grpc.aio.Channel
    http: httpx.AsyncClient
    tenant_id: str

    @property
    def stub(self) -> api_grpc.IngestServiceAsyncStub:
        """IngestService stub."""
        return api_grpc.IngestServiceStub(self.channel)

    @property
    def tenants(self) -> tapi_grpc.TenantServiceAsyncStub:
        """TenantService stub."""
        return tapi_grpc.TenantServiceStub(self.channel)

    def md(self, *scopes: str, tenant_id: str | None = None) -> tuple[tuple[str, str], ...]:
        """Metadata for this tenant (or another) with scopes (default ingest:write)."""
        return self.svc.metadata(tenant_id or self.tenant_id, *(scopes or ("ingest:write",)))

    async def new_tenant(self, name: str = "Acme MSP", zone: str = "UTC") -> str:
        """Register a tenant and return its id."""
        reply = await self.tenants.CreateTenant(
            tapi.CreateTenantRequest(tenant=pb.Tenant(display_name=name, time_zone=zone)),
            metadata=self.svc.admin_metadata(),
        )
        return str(reply.tenant.id)

    async def integration(
        self, provider: str, *, tenant_id: str | None = None, **settings: Any
    ) -> tuple[str, str]:
        """Create an integration; returns (id, secret)."""
        reply = await self.stub.CreateIntegration(
            api.CreateIntegrationRequest(
                integration=pb.Integration(
                    provider=pb.Provider.Value(f"PROVIDER_{provider.upper()}"),
                    display_name=f"{provider} test",
                    settings=pb.IntegrationSettings(**settings),
                )
            ),
            metadata=self.md(tenant_id=tenant_id),
        )
        return reply.integration.id, reply.secret

    async def post(
        self,
        provider: str,
        integration_id: str,
        body: bytes,
        *,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a webhook."""
        all_headers = {"content-type": "application/json", **(headers or {})}
        if secret is not None:
            all_headers["x-triage-secret"] = secret
        return await self.http.post(
            f"/v1/webhooks/{provider}/{integration_id}",
            content=body,
            headers=all_headers,
            params=params,
        )


@pytest.fixture
async def ingest(fresh_db: str, nats_url: str) -> AsyncIterator[Ingest]:
    """A running ingest service with one tenant."""
    async with (
        running_service(
            name="ingest",
            schema=SCHEMA,
            outbox=Outbox(outbox),
            wire=wire,
            migrations=MIGRATIONS,
            database_url=fresh_db,
            nats_url=nats_url,
        ) as svc,
        grpc.aio.insecure_channel(svc.grpc_address) as channel,
        httpx.AsyncClient(base_url=svc.http_url, timeout=10) as http,
    ):
        for _ in range(200):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                import asyncio

                await asyncio.sleep(0.02)
        harness = Ingest(svc, channel, http, tenant_id="")
        harness.tenant_id = await harness.new_tenant()
        yield harness


def ninja_trigger(series: str = "series-1", activity_id: int = 1) -> bytes:
    """A NinjaOne condition trigger activity."""
    import orjson

    return orjson.dumps(
        {
            "id": activity_id,
            "activityTime": 1742391675.556,
            "deviceId": 42,
            "severity": "CRITICAL",
            "priority": "HIGH",
            "seriesUid": series,
            "activityType": "CONDITION",
            "statusCode": "TRIGGERED",
            "status": "Triggered",
            "sourceConfigUid": "cfg-" + series,
            "sourceName": "Disk Space",
            "subject": "Disk C: below 10%",
            "message": "Disk C: has 4% free",
            "device": {"id": 42, "displayName": "SRV-01", "organizationId": 7},
        }
    )


def new_id() -> str:
    """A random UUID string."""
    return str(uuid.uuid4())
