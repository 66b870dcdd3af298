"""A deletion survives crashes (issue 18): a service down mid-way holds it at its step and
finishes it once restarted; a handler that dies mid-batch leaves work the next run ends."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla import models as sla_models
from services.sla.store.tenant_data import TENANT_DATA
from tests.integration.offboarding.cluster import cluster, eventually, seed, tenant_rows
from triage.runtime import Database, Outbox, TenantData, TenantOffboarding
from triage.tenancy.v1 import offboarding_pb2 as off_api

pytestmark = pytest.mark.integration


async def test_a_service_down_mid_deletion_finishes_it_after_restart(
    fresh_db: str, nats_url: str
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        gone, kept = await running.new_tenant("leaving"), await running.new_tenant("staying")
        await seed(running, gone)
        await seed(running, kept)
        before_kept = await tenant_rows(fresh_db, kept)
        await running.stop("sla")

        await running.offboarding().DeleteTenant(
            off_api.DeleteTenantRequest(tenant_id=gone), metadata=running.admin()
        )

        async def at_sla() -> off_api.TenantDeletion | None:
            found = await running.deletion(gone)
            return found if found.current_service == "sla" else None

        held = await eventually(at_sla, "the deletion reaching sla")
        assert [s.service for s in held.services if s.done] == ["rules", "tickets"]
        left = await tenant_rows(fresh_db, gone)
        assert not any(name.startswith(("rules.", "tickets.")) for name in left), left
        assert any(name.startswith("sla.") for name in left), left

        await running.start("sla")
        await running.completed(gone)
        assert await tenant_rows(fresh_db, gone) == {}
        assert await tenant_rows(fresh_db, kept) == before_kept


class _DiesAfter(TenantData):
    """Tenant data whose deletion fails after ``batches`` batches, like a killed handler."""

    def __init__(self, base: TenantData, batches: int) -> None:
        self.__dict__.update(base.__dict__)
        self._left = batches

    async def delete_batch(self, session: AsyncSession, tenant_id: str, limit: int) -> int:
        """Delete one batch, or die once the budget is spent."""
        if self._left == 0:
            raise RuntimeError("killed mid-deletion")
        self._left -= 1
        return await super().delete_batch(session, tenant_id, limit)


async def test_a_handler_killed_mid_batch_leaves_what_a_rerun_finishes(
    fresh_db: str, nats_url: str
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        gone = await running.new_tenant("leaving")
        await seed(running, gone)
        sla_rows = {
            k: v for k, v in (await tenant_rows(fresh_db, gone)).items() if k.startswith("sla.")
        }
        assert sum(sla_rows.values()) > 3, sla_rows
        await running.stop("sla")
        db = Database(fresh_db, schema=sla_models.SCHEMA)
        try:
            outbox = Outbox(sla_models.outbox)
            dying = TenantOffboarding(
                db=db, outbox=outbox, data=_DiesAfter(TENANT_DATA, 2), service="sla", batch_size=1
            )
            with pytest.raises(RuntimeError, match="killed"):
                await dying.delete(gone)
            after_crash = {
                k: v for k, v in (await tenant_rows(fresh_db, gone)).items() if k.startswith("sla.")
            }
            assert sum(after_crash.values()) == sum(sla_rows.values()) - 2
        finally:
            await db.dispose()

        # The redelivered request (here: the deletion from the start) finishes the job.
        await running.start("sla")
        await running.offboarding().DeleteTenant(
            off_api.DeleteTenantRequest(tenant_id=gone), metadata=running.admin()
        )
        await running.completed(gone)
        assert await tenant_rows(fresh_db, gone) == {}
