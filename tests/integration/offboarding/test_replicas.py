"""A deleted tenant is refused at once by every replica, not only by the one that ran the
deletion step: a second replica of rules and of ingest, each with the tenant's "active"
standing (and ingest its integration's credentials) cached, refuse its calls within a
moment of the request (PERMISSION_DENIED, TENANT_DELETING, then TENANT_DELETED), its
webhooks (410 problem), and services' calls acting for it; nothing of it is re-created."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc
import httpx
import pytest

from tests.integration.access.errors import reason_of
from tests.integration.contracts.mesh import _service
from tests.integration.ingest.conftest import ninja_trigger
from tests.integration.offboarding.cluster import Cluster, cluster, tenant_rows
from tests.service_harness import RunningService
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.clients import service_metadata
from triage.runtime.config import Peers
from triage.tenancy.v1 import offboarding_pb2 as off_api

pytestmark = pytest.mark.integration
#: Propagation through the access bucket takes milliseconds; the cached standing 10 s.
PROPAGATION_SECONDS = 2.0
Metadata = tuple[tuple[str, str], ...]


@dataclass
class Replicas:
    """The cluster plus a second replica of rules and of ingest, with their own caches."""

    running: Cluster
    rules: rules_grpc.RulesServiceAsyncStub
    ingest: ingest_grpc.IngestServiceAsyncStub
    ingest_http: httpx.AsyncClient
    service: RunningService


@pytest.fixture
async def replicas(fresh_db: str, nats_url: str) -> AsyncIterator[Replicas]:
    async with cluster(fresh_db, nats_url) as running, AsyncExitStack() as stack:
        peers = Peers({n: running.running[n].grpc_address for n in ("ingest", "notify")})
        rules = await stack.enter_async_context(_service("rules", fresh_db, nats_url, peers=peers))
        ingest = await stack.enter_async_context(_service("ingest", fresh_db, nats_url))
        rules_channel = grpc.aio.insecure_channel(rules.grpc_address)
        ingest_channel = grpc.aio.insecure_channel(ingest.grpc_address)
        stack.push_async_callback(rules_channel.close, None)
        stack.push_async_callback(ingest_channel.close, None)
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=ingest.http_url))
        yield Replicas(
            running,
            rules_grpc.RulesServiceStub(rules_channel),
            ingest_grpc.IngestServiceStub(ingest_channel),
            http,
            rules,
        )


def new_rule() -> rules_api.CreateRuleRequest:
    """A rule creation (a write)."""
    return rules_api.CreateRuleRequest(
        request_id=str(uuid.uuid4()),
        rule=rules_pb.Rule(
            display_name=f"late rule {uuid.uuid4()}",
            actions=rules_pb.Actions(ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET),
        ),
    )


async def refusal(call: Callable[[], Awaitable[object]]) -> grpc.aio.AioRpcError | None:
    """The call's refusal, or None when it was served."""
    try:
        await call()
    except grpc.aio.AioRpcError as error:
        return error
    return None


async def refused_within(
    call: Callable[[], Awaitable[object]], reasons: tuple[str, ...]
) -> grpc.aio.AioRpcError:
    """Poll a read until it is refused with one of ``reasons`` (PERMISSION_DENIED), failing
    after the propagation deadline."""
    deadline = time.monotonic() + PROPAGATION_SECONDS
    while True:
        error = await refusal(call)
        if (
            error is not None
            and error.code() == grpc.StatusCode.PERMISSION_DENIED
            and reason_of(error) in reasons
        ):
            return error
        assert time.monotonic() < deadline, f"not refused with {reasons}: {error}"
        await asyncio.sleep(0.05)


async def delete(running: Cluster, tenant_id: str) -> None:
    """Request the tenant's deletion through the first ingest replica."""
    await running.offboarding().DeleteTenant(
        off_api.DeleteTenantRequest(tenant_id=tenant_id), metadata=running.admin()
    )


async def test_every_replica_refuses_a_deleted_tenant_at_once(replicas: Replicas) -> None:
    running = replicas.running
    gone = await running.new_tenant("leaving")
    md = running.tenant(gone)
    created = await replicas.ingest.CreateIntegration(
        ingest_api.CreateIntegrationRequest(
            integration=ingest_pb.Integration(
                provider=ingest_pb.PROVIDER_NINJAONE, display_name="ninja"
            )
        ),
        metadata=md,
    )
    webhook_path = f"/v1/webhooks/ninjaone/{created.integration.id}"
    secret = {"content-type": "application/json", "x-triage-secret": created.secret}
    accepted = await replicas.ingest_http.post(
        webhook_path, content=ninja_trigger(), headers=secret
    )
    assert accepted.status_code == 202, accepted.text
    # The second replicas have the tenant's standing (and credentials) cached as active.
    await replicas.rules.ListRules(rules_api.ListRulesRequest(), metadata=md)
    await replicas.ingest.ListIntegrations(ingest_api.ListIntegrationsRequest(), metadata=md)

    await delete(running, gone)

    def list_rules() -> Awaitable[object]:
        return replicas.rules.ListRules(rules_api.ListRulesRequest(), metadata=md)

    under_way = ("TENANT_DELETING", "TENANT_DELETED")
    await refused_within(list_rules, under_way)
    await running.completed(gone)

    error = await refused_within(list_rules, ("TENANT_DELETED",))
    assert "deleted" in (error.details() or "")
    write = await refusal(lambda: replicas.rules.CreateRule(new_rule(), metadata=md))
    assert write is not None and write.code() == grpc.StatusCode.PERMISSION_DENIED, write
    assert reason_of(write) == "TENANT_DELETED"
    await refused_within(
        lambda: replicas.ingest.ListIntegrations(ingest_api.ListIntegrationsRequest(), metadata=md),
        ("TENANT_DELETED",),
    )
    answer = await replicas.ingest_http.post(
        webhook_path, content=ninja_trigger("s-2", 2), headers=secret
    )
    assert answer.status_code == 410, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/tenant-deleted") and problem["reason"] == "TENANT_DELETED"
    assert await tenant_rows(running.database_url, gone) == {}


async def refuses_services_for(rules: rules_grpc.RulesServiceAsyncStub, md: Metadata) -> None:
    """``rules`` refuses a service's read and write acting for a deleted tenant."""
    await refused_within(
        lambda: rules.ListRules(rules_api.ListRulesRequest(), metadata=md), ("TENANT_DELETED",)
    )
    write = await refusal(lambda: rules.CreateRule(new_rule(), metadata=md))
    assert write is not None and write.code() == grpc.StatusCode.PERMISSION_DENIED, write
    assert reason_of(write) == "TENANT_DELETED"


async def test_a_service_acting_for_a_deleted_tenant_is_refused(replicas: Replicas) -> None:
    running = replicas.running
    gone, kept = await running.new_tenant("leaving"), await running.new_tenant("staying")
    authority = replicas.service.authority

    def acting_for(tenant_id: str) -> Metadata:
        return tuple(service_metadata(authority, "tickets", tenant_id))

    await replicas.rules.ListRules(rules_api.ListRulesRequest(), metadata=running.tenant(gone))
    await delete(running, gone)
    await running.completed(gone)

    first = rules_grpc.RulesServiceStub(running.channel("rules"))
    for rules in (first, replicas.rules):
        await refuses_services_for(rules, acting_for(gone))
        # Services still act for the other tenants.
        await rules.CreateRule(new_rule(), metadata=acting_for(kept))
    assert await tenant_rows(running.database_url, gone) == {}
