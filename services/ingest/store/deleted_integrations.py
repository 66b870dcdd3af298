"""Queries over ``deleted_integrations``: the integrations of deleted tenants. Never commits.

The deletion step records each integration of the tenant before its row goes
(:mod:`services.ingest.store.tenant_data`), so a webhook to it is answered 410 rather than
401 once nothing else maps its id to a tenant. Only ids and when: no secret, no name.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import deleted_integrations, integrations


async def bury_integrations(session: AsyncSession, tenant_id: str) -> None:
    """Record every integration the tenant still has as deleted (idempotent; owner session)."""
    chosen = select(integrations.c.id, integrations.c.tenant_id).where(
        integrations.c.tenant_id == tenant_id
    )
    await session.execute(
        insert(deleted_integrations)
        .from_select(["integration_id", "deleted_tenant_id"], chosen)
        .on_conflict_do_nothing()
    )


async def is_buried_integration(session: AsyncSession, integration_id: str) -> bool:
    """Whether ``integration_id`` belonged to a deleted tenant (owner session)."""
    query = select(deleted_integrations.c.integration_id).where(
        deleted_integrations.c.integration_id == integration_id
    )
    return (await session.execute(query)).first() is not None
