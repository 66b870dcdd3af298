"""A deleted tenant whose ``deleted.<tenant>`` key is missing from the access bucket (it was
deleted before the keys existed, or the bucket was recreated) is still refused as deleted,
not as an unknown tenant: each service restores the key from what it holds durably (its
tombstones; ingest its deletion records, which know the deletion completed)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import grpc
import nats
import pytest

from tests.integration.access.errors import reason_of
from tests.integration.offboarding.cluster import Cluster, cluster, seed, tenant_rows
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.access_list import (
    DELETED,
    DELETED_STATE,
    DELETING_STATE,
    AccessList,
    access_bucket,
)
from triage.runtime.deletion_keys import DeletionKeys
from triage.tenancy.v1 import offboarding_pb2 as off_api

pytestmark = pytest.mark.integration
#: Restores run as a service starts; propagation through the bucket takes milliseconds.
WITHIN_SECONDS = 10.0
Call = Callable[[], Awaitable[object]]


async def answer(call: Call) -> tuple[grpc.StatusCode, str]:
    """The call's status code and refusal reason (OK, "" when served)."""
    try:
        await call()
    except grpc.aio.AioRpcError as error:
        return error.code(), reason_of(error)
    return grpc.StatusCode.OK, ""


async def answers_within(call: Call, wanted: set[tuple[grpc.StatusCode, str]]) -> None:
    """Poll ``call`` until its answer is one of ``wanted``; fail after the deadline."""
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        got = await answer(call)
        if got in wanted:
            return
        assert time.monotonic() < deadline, f"answered {got}, not one of {wanted}"
        await asyncio.sleep(0.05)


async def forget_key(nats_url: str, tenant_id: str) -> None:
    """Purge the tenant's deletion key, as a bucket that never had it (or was recreated)."""
    nc = await nats.connect(nats_url)
    try:
        kv = await access_bucket(nc.jetstream())
        await kv.purge(f"{DELETED}{tenant_id}")
    finally:
        await nc.drain()


async def restart(running: Cluster, name: str) -> None:
    """Stop and start ``name`` again (a new process: its access list comes from the bucket)."""
    await running.stop(name)
    await running.start(name)


async def test_a_tenant_deleted_without_its_key_is_refused_as_deleted(
    fresh_db: str, nats_url: str
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        gone = await running.new_tenant("leaving")
        await seed(running, gone)
        md = running.tenant(gone)
        await running.offboarding().DeleteTenant(
            off_api.DeleteTenantRequest(tenant_id=gone), metadata=running.admin()
        )
        await running.completed(gone)

        def list_rules() -> Awaitable[object]:
            stub = rules_grpc.RulesServiceStub(running.channel("rules"))
            return stub.ListRules(rules_api.ListRulesRequest(), metadata=md)

        def list_integrations() -> Awaitable[object]:
            stub = ingest_grpc.IngestServiceStub(running.channel("ingest"))
            return stub.ListIntegrations(ingest_api.ListIntegrationsRequest(), metadata=md)

        deleted = (grpc.StatusCode.PERMISSION_DENIED, "TENANT_DELETED")
        deleting = (grpc.StatusCode.PERMISSION_DENIED, "TENANT_DELETING")
        await forget_key(nats_url, gone)

        # A new rules process restores the key from its tombstone (it cannot tell that the
        # deletion completed) ...
        await restart(running, "rules")
        await answers_within(list_rules, {deleting, deleted})
        # ... and a new ingest process from its deletion record, which knows it completed:
        # every replica, the rules one that is not restarted again too, says so.
        await restart(running, "ingest")
        await answers_within(list_integrations, {deleted})
        await answers_within(list_rules, {deleted})
        assert await tenant_rows(fresh_db, gone) == {}


async def test_a_restore_puts_back_what_the_bucket_lacks_and_never_downgrades(
    nats_url: str,
) -> None:
    done, under_way, known = (str(uuid.uuid4()) for _ in range(3))
    held = {done: True, under_way: False, known: False}
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        kv = await access_bucket(js)
        await kv.put(f"{DELETED}{known}", DELETED_STATE.encode())
        access = AccessList()
        access.apply(f"{DELETED}{known}", DELETED_STATE.encode())

        async def source() -> dict[str, bool]:
            return held

        keys = DeletionKeys(js=js, access=access, source=source)
        assert await keys.restore() == 2
        # This process refuses them at once, and the bucket tells every other one.
        assert access.deletion(done) == DELETED_STATE
        assert access.deletion(under_way) == DELETING_STATE
        assert access.deletion(known) == DELETED_STATE
        for tenant, state in ((done, DELETED_STATE), (under_way, DELETING_STATE)):
            entry = await kv.get(f"{DELETED}{tenant}")
            assert entry.value == state.encode()
        assert (await kv.get(f"{DELETED}{known}")).value == DELETED_STATE.encode()
        assert await keys.restore() == 0
    finally:
        await nc.drain()
