"""Deleting a tenant across the five services (issue 18): driven by events, in order, and
nothing of the tenant left in any table afterwards while another tenant is untouched."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import field_mask_pb2

from tests.integration.offboarding.cluster import cluster, eventually, seed, tenant_rows
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.tenancy.v1 import offboarding_pb2 as off_api

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).parents[2] / "unit" / "ingest" / "corpus"
ORDER = ["rules", "tickets", "sla", "notify", "ingest"]


async def test_deletion_leaves_nothing_of_the_tenant_and_spares_the_other(
    fresh_db: str, nats_url: str
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        gone, kept = await running.new_tenant("leaving"), await running.new_tenant("staying")
        await seed(running, gone)
        await seed(running, kept)
        before_gone = await tenant_rows(fresh_db, gone)
        before_kept = await tenant_rows(fresh_db, kept)
        schemas = {name.split(".")[0] for name in before_gone}
        assert {"ingest", "rules", "tickets", "sla", "notify"} <= schemas, before_gone

        started = await running.offboarding().DeleteTenant(
            off_api.DeleteTenantRequest(tenant_id=gone), metadata=running.admin()
        )
        assert started.deletion.state == off_api.DELETION_STATE_IN_PROGRESS
        assert [s.service for s in started.deletion.services] == ORDER

        done = await running.completed(gone)
        assert done.current_service == ""
        assert all(s.done for s in done.services)
        assert all(s.rows_deleted > 0 for s in done.services), done
        assert await tenant_rows(fresh_db, gone) == {}
        assert await tenant_rows(fresh_db, kept) == before_kept

        # The registry forgets it; its tokens stop working; the other tenant still works.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tenant_grpc.TenantServiceStub(running.channel("ingest")).GetTenant(
                tenant_api.GetTenantRequest(tenant_id=gone), metadata=running.admin()
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        rules = rules_grpc.RulesServiceStub(running.channel("rules"))
        listed = await rules.ListRules(rules_api.ListRulesRequest(), metadata=running.tenant(kept))
        assert len(listed.rules) == 1

        # Asking again is harmless: the completed record is returned, nothing changes.
        again = await running.offboarding().DeleteTenant(
            off_api.DeleteTenantRequest(tenant_id=gone), metadata=running.admin()
        )
        assert again.deletion.state == off_api.DELETION_STATE_COMPLETED
        assert await tenant_rows(fresh_db, kept) == before_kept


async def test_a_deleting_tenant_is_refused_and_bad_requests_are_callers_errors(
    fresh_db: str, nats_url: str
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        await running.stop("rules")  # the deletion waits at its first step
        tenant = await running.new_tenant("leaving")
        created = await ingest_grpc.IngestServiceStub(running.channel("ingest")).CreateIntegration(
            ingest_api.CreateIntegrationRequest(
                integration=ingest_pb.Integration(
                    provider=ingest_pb.PROVIDER_GENERIC, display_name="generic"
                )
            ),
            metadata=running.tenant(tenant),
        )
        body = (CORPUS / "generic" / "trigger.json").read_bytes()
        async with httpx.AsyncClient(base_url=running.running["ingest"].http_url) as http:

            async def post() -> int:
                reply = await http.post(
                    f"/v1/webhooks/generic/{created.integration.id}",
                    content=body,
                    headers={"content-type": "application/json", "x-triage-secret": created.secret},
                )
                return reply.status_code

            assert await post() == 202
            await running.offboarding().DeleteTenant(
                off_api.DeleteTenantRequest(tenant_id=tenant), metadata=running.admin()
            )

            async def refused() -> bool:
                return await post() == 401

            # Intake stops: the integration is disabled (credentials are cached up to 5 s).
            await eventually(refused, "the deleting tenant's webhook refused", within=30)
        stub = tenant_grpc.TenantServiceStub(running.channel("ingest"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetTenant(
                tenant_api.GetTenantRequest(tenant_id=tenant), metadata=running.tenant(tenant)
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "being deleted" in (caught.value.details() or "")
        # Nobody resumes (or renames) a tenant half deleted.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTenant(
                tenant_api.UpdateTenantRequest(
                    tenant=ingest_pb.Tenant(id=tenant, state=ingest_pb.TENANT_STATE_ACTIVE),
                    update_mask=field_mask_pb2.FieldMask(paths=["state"]),
                ),
                metadata=running.admin(),
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        for bad in ("", "not-a-uuid"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await running.offboarding().GetTenantDeletion(
                    off_api.GetTenantDeletionRequest(tenant_id=bad), metadata=running.admin()
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        other = await running.new_tenant("other")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.offboarding().DeleteTenant(
                off_api.DeleteTenantRequest(tenant_id=other), metadata=running.tenant(other)
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.offboarding().GetTenantDeletion(
                off_api.GetTenantDeletionRequest(tenant_id=other), metadata=running.admin()
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
