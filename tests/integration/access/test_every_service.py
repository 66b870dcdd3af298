"""Every one of the five services refuses a revoked token (UNAUTHENTICATED, TOKEN_REVOKED)
and a suspended tenant's calls (PERMISSION_DENIED, TENANT_SUSPENDED) within a bounded time,
also right after a restart, and serves the tenant again once it is resumed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from services.rules.models import SCHEMA as RULES_SCHEMA
from services.rules.models import outbox as rules_outbox
from services.rules.wiring import wire as wire_rules
from services.sla.models import SCHEMA as SLA_SCHEMA
from services.sla.models import outbox as sla_outbox
from services.sla.wiring import wire as wire_sla
from services.tickets.models import SCHEMA as TICKETS_SCHEMA
from services.tickets.models import outbox as tickets_outbox
from services.tickets.wiring import wire as wire_tickets
from tests.integration.access.errors import reason_of
from tests.integration.owners import Owners, asking, owners
from tests.service_harness import RunningService
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.outbox import Outbox
from triage.sla.v1 import sla_service_pb2 as sla_api
from triage.sla.v1 import sla_service_pb2_grpc as sla_grpc
from triage.tickets.v1 import tickets_service_pb2 as tickets_api
from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc

DEADLINE_SECONDS = 15.0
SCOPES = ["ingest:read", "rules:read", "tickets:read", "sla:read", "notify:read"]

#: One read per service: (stub, method, request).
READS: dict[str, tuple[Callable[[Any], Any], str, Any]] = {
    "ingest": (
        ingest_grpc.IngestServiceStub,
        "ListIntegrations",
        ingest_api.ListIntegrationsRequest(),
    ),
    "notify": (notify_grpc.NotifyServiceStub, "ListChannels", notify_api.ListChannelsRequest()),
    "rules": (rules_grpc.RulesServiceStub, "ListRules", rules_api.ListRulesRequest()),
    "tickets": (tickets_grpc.TicketsServiceStub, "ListTickets", tickets_api.ListTicketsRequest()),
    "sla": (sla_grpc.SlaServiceStub, "ListSlaPolicies", sla_api.ListSlaPoliciesRequest()),
}
ASKING = {
    "rules": (RULES_SCHEMA, rules_outbox, wire_rules),
    "tickets": (TICKETS_SCHEMA, tickets_outbox, wire_tickets),
    "sla": (SLA_SCHEMA, sla_outbox, wire_sla),
}


@dataclass
class Mesh:
    """The five services, running in-process against one database and one NATS."""

    found: Owners
    services: dict[str, RunningService]
    nats_url: str
    stack: AsyncExitStack

    async def restart(self, name: str) -> None:
        """Start a second replica of ``name`` and send its calls there (a fresh process
        state: it learns revocations and suspensions at start)."""
        schema, outbox, wire = ASKING[name]
        self.services[name] = await self.stack.enter_async_context(
            asking(
                self.found,
                name=name,
                schema=schema,
                outbox=Outbox(outbox),
                wire=wire,
                nats_url=self.nats_url,
            )
        )

    async def call(self, service: str, token: str) -> grpc.aio.AioRpcError | None:
        """One read on ``service`` with ``token``; the refusal, or None if served."""
        stub_type, method, request = READS[service]
        async with grpc.aio.insecure_channel(self.services[service].grpc_address) as channel:
            try:
                await getattr(stub_type(channel), method)(
                    request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
                )
            except grpc.aio.AioRpcError as error:
                return error
        return None

    async def until(
        self, service: str, token: str, code: grpc.StatusCode | None
    ) -> grpc.aio.AioRpcError | None:
        """Poll until ``service`` answers ``code`` (None: serves the call), with a deadline."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            error = await self.call(service, token)
            if (error.code() if error is not None else None) == code:
                return error
            assert time.monotonic() < deadline, f"{service}: still {error}"
            await asyncio.sleep(0.05)

    async def admin(self, method: str, request: Any) -> Any:
        """A TenantService call as an administrator."""
        ingest = self.found.ingest
        async with grpc.aio.insecure_channel(ingest.grpc_address) as channel:
            return await getattr(tenant_grpc.TenantServiceStub(channel), method)(
                request, metadata=ingest.admin_metadata()
            )


@pytest.fixture
async def mesh(fresh_db: str, nats_url: str) -> AsyncIterator[Mesh]:
    async with AsyncExitStack() as stack:
        found = await stack.enter_async_context(owners(fresh_db, nats_url))
        services = {"ingest": found.ingest, "notify": found.notify}
        for name, (schema, outbox, wire) in ASKING.items():
            services[name] = await stack.enter_async_context(
                asking(
                    found,
                    name=name,
                    schema=schema,
                    outbox=Outbox(outbox),
                    wire=wire,
                    nats_url=nats_url,
                )
            )
        yield Mesh(found, services, nats_url, stack)


async def issue(mesh: Mesh, tenant_id: str) -> tenant_api.IssueTokenResponse:
    """A read token of ``tenant_id`` for every service."""
    reply: tenant_api.IssueTokenResponse = await mesh.admin(
        "IssueToken", tenant_api.IssueTokenRequest(tenant_id=tenant_id, scopes=SCOPES)
    )
    return reply


async def test_a_revoked_token_is_refused_by_every_service(mesh: Mesh) -> None:
    tenant = await mesh.found.tenant()
    kept, revoked = await issue(mesh, tenant), await issue(mesh, tenant)
    for service in READS:
        await mesh.until(service, revoked.token, None)

    await mesh.admin("RevokeToken", tenant_api.RevokeTokenRequest(token_id=revoked.token_id))
    for service in READS:
        error = await mesh.until(service, revoked.token, grpc.StatusCode.UNAUTHENTICATED)
        assert error is not None and reason_of(error) == "TOKEN_REVOKED", service
        assert await mesh.call(service, kept.token) is None, service

    await mesh.restart("rules")
    error = await mesh.call("rules", revoked.token)  # at once: loaded before serving
    assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(error) == "TOKEN_REVOKED"
    assert await mesh.call("rules", kept.token) is None


async def set_state(mesh: Mesh, tenant_id: str, state: ingest_pb.TenantState.ValueType) -> None:
    """Suspend or resume a tenant through UpdateTenant."""
    await mesh.admin(
        "UpdateTenant",
        tenant_api.UpdateTenantRequest(
            tenant=ingest_pb.Tenant(id=tenant_id, state=state),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
    )


async def test_a_suspended_tenant_is_refused_by_every_service_until_resumed(mesh: Mesh) -> None:
    tenant, other = await mesh.found.tenant("Suspended"), await mesh.found.tenant("Other")
    token, others = (await issue(mesh, tenant)).token, (await issue(mesh, other)).token
    for service in READS:
        await mesh.until(service, token, None)

    await set_state(mesh, tenant, ingest_pb.TENANT_STATE_SUSPENDED)
    for service in READS:
        error = await mesh.until(service, token, grpc.StatusCode.PERMISSION_DENIED)
        assert error is not None and reason_of(error) == "TENANT_SUSPENDED", service
        assert "suspended" in (error.details() or ""), service
        assert await mesh.call(service, others) is None, service

    await mesh.restart("tickets")
    error = await mesh.call("tickets", token)
    assert error is not None and reason_of(error) == "TENANT_SUSPENDED"

    await set_state(mesh, tenant, ingest_pb.TENANT_STATE_ACTIVE)
    for service in READS:
        await mesh.until(service, token, None)
