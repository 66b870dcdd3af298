"""ingest's own answer to "may this tenant call?": its registry, read locally."""

from __future__ import annotations

import uuid

from services.ingest import store
from triage.runtime import Database, Lookup, TenantStanding


def local_standing(db: Database) -> Lookup:
    """A :class:`triage.runtime.tenant_gate.TenantGate` lookup over ingest's ``tenants``
    table (the other services ask ingest over gRPC; ingest owns the registry)."""

    async def lookup(tenant_id: str) -> TenantStanding:
        try:
            uuid.UUID(tenant_id)
        except ValueError:
            return TenantStanding.UNKNOWN
        async with db.transaction(tenant_id) as session:
            row = await store.get_tenant(session, tenant_id)
        if row is None:
            return TenantStanding.UNKNOWN
        if row.state != "active":
            return TenantStanding.SUSPENDED
        return TenantStanding.ACTIVE

    return lookup
