"""Deleting a tenant across the mesh: the registry's side (request, progress, the end).

ingest records the request, stops the tenant's intake (state ``deleting``, integrations
disabled: webhooks and polls stop, calls are refused), then asks one service at a time with
``tenant.deletion_requested`` (:data:`services.ingest.domain.deletions.DELETION_ORDER`, ingest last)
and advances on each ``tenant.data_deleted``. After ingest's own rows, the registry row
goes and the record is marked completed. Every step is idempotent, so a redelivered event
or a repeated request resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from services.ingest.domain.deletions import DELETION_ORDER, TenantDeletion, next_service
from services.ingest.errors import TenantNotFound
from services.ingest.store import deletions as store
from services.ingest.store.tenants import get_tenant
from triage.runtime import Database, Outbox, after_commit, deletion_requested

PRODUCER = "ingest"


class TenantDeletions:
    """The deletion state machine the registry keeps."""

    def __init__(
        self, *, db: Database, outbox: Outbox, forget: Callable[[str], None] | None = None
    ) -> None:
        """Keep the database and the outbox; ``forget(tenant_id)`` drops a cached standing
        (this process's tenant gate), so the tenant's calls are refused at once here."""
        self.db = db
        self.outbox = outbox
        self.forget = forget

    async def request(self, tenant_id: str) -> TenantDeletion:
        """Start deleting the tenant, or nudge a deletion under way (its current service is
        asked again: a lost or dead-lettered event cannot stall it)."""
        async with self.db.system_transaction() as session:
            found = await store.get_deletion(session, tenant_id, lock=True)
            if found is None:
                if await get_tenant(session, tenant_id) is None:
                    raise TenantNotFound(f"tenant {tenant_id} not found")
                await store.mark_deleting(session, tenant_id)
                found = await store.start_deletion(session, tenant_id, DELETION_ORDER[0])
                if self.forget is not None:
                    after_commit(session, partial(self.forget, tenant_id))
            if found.current_service is not None:
                await self.outbox.add(
                    session, deletion_requested(tenant_id, found.current_service, producer=PRODUCER)
                )
            return found

    async def status(self, tenant_id: str) -> TenantDeletion:
        """The tenant's deletion; NOT_FOUND when none was requested."""
        async with self.db.system_transaction() as session:
            found = await store.get_deletion(session, tenant_id)
        if found is None:
            raise TenantNotFound(f"no deletion of tenant {tenant_id} was requested")
        return found

    async def requested(self) -> dict[str, bool]:
        """Every tenant whose deletion was requested: whether it completed (restores the
        access bucket's deletion keys, :class:`triage.runtime.deletion_keys.DeletionKeys`)."""
        async with self.db.system_transaction() as session:
            return await store.deletion_states(session)

    async def data_deleted(self, tenant_id: str, service: str, rows: int) -> None:
        """``service`` deleted its rows: ask the next one, or finish (a report for a step
        already passed is a redelivery and changes nothing)."""
        async with self.db.system_transaction() as session:
            found = await store.get_deletion(session, tenant_id, lock=True)
            if found is None or found.current_service != service:
                return
            following = next_service(DELETION_ORDER, service)
            await store.advance(
                session, tenant_id=tenant_id, done=service, rows=rows, following=following
            )
            if following is None:
                await store.drop_tenant(session, tenant_id)
                return
            await self.outbox.add(
                session, deletion_requested(tenant_id, following, producer=PRODUCER)
            )
