"""ingest's own answer to "may this tenant call?": its registry, read locally."""

from __future__ import annotations

from services.ingest.store.tenants import get_tenant
from triage.runtime import Database, Lookup, PermissionDenied, TenantStanding, is_uuid


def local_standing(db: Database) -> Lookup:
    """A :class:`triage.runtime.tenant_gate.TenantGate` lookup over ingest's ``tenants``
    table (the other services ask ingest over gRPC; ingest owns the registry)."""

    async def lookup(tenant_id: str) -> TenantStanding:
        if not is_uuid(tenant_id):
            return TenantStanding.UNKNOWN
        try:
            async with db.transaction(tenant_id) as session:
                row = await get_tenant(session, tenant_id)
        except PermissionDenied:
            # ingest's own rows of the tenant were deleted (its tombstone refused the read).
            return TenantStanding.DELETED
        if row is None:
            return TenantStanding.UNKNOWN
        if row.state == "deleting":
            return TenantStanding.DELETING
        if row.state != "active":
            return TenantStanding.SUSPENDED
        return TenantStanding.ACTIVE

    return lookup
