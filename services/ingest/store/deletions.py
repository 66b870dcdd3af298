"""Queries over ``tenant_deletions`` and the registry rows a deletion changes. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.deletions import TenantDeletion
from services.ingest.models import integrations, tenant_deletions, tenants


def _deletion(row: Row[Any]) -> TenantDeletion:
    return TenantDeletion(
        tenant_id=str(row.deleted_tenant_id),
        current_service=row.current_service,
        rows_deleted={str(k): int(v) for k, v in dict(row.rows_deleted).items()},
        requested_at=row.requested_at,
        completed_at=row.completed_at,
    )


async def get_deletion(
    session: AsyncSession, tenant_id: str, *, lock: bool = False
) -> TenantDeletion | None:
    """The tenant's deletion record (locked for update when ``lock``)."""
    query = select(tenant_deletions).where(tenant_deletions.c.deleted_tenant_id == tenant_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return _deletion(row) if row is not None else None


async def deletion_states(session: AsyncSession) -> dict[str, bool]:
    """Every requested deletion: tenant id -> whether it completed."""
    query = select(tenant_deletions.c.deleted_tenant_id, tenant_deletions.c.completed_at)
    return {str(row[0]): row[1] is not None for row in await session.execute(query)}


async def start_deletion(session: AsyncSession, tenant_id: str, first: str) -> TenantDeletion:
    """Record a new deletion starting at service ``first`` (an existing one is returned)."""
    await session.execute(
        insert(tenant_deletions)
        .values(deleted_tenant_id=tenant_id, current_service=first)
        .on_conflict_do_nothing()
    )
    found = await get_deletion(session, tenant_id, lock=True)
    assert found is not None
    return found


async def advance(
    session: AsyncSession, *, tenant_id: str, done: str, rows: int, following: str | None
) -> None:
    """``done`` deleted ``rows``; ``following`` deletes next (None: record completion)."""
    current = await get_deletion(session, tenant_id, lock=True)
    assert current is not None
    counts = {**current.rows_deleted, done: rows}
    values: dict[str, Any] = {"rows_deleted": counts, "current_service": following}
    if following is None:
        values["completed_at"] = datetime.now().astimezone()
    await session.execute(
        update(tenant_deletions)
        .where(tenant_deletions.c.deleted_tenant_id == tenant_id)
        .values(**values)
    )


async def mark_deleting(session: AsyncSession, tenant_id: str) -> None:
    """Stop the tenant's intake: its state is ``deleting``, its integrations disabled."""
    await session.execute(update(tenants).where(tenants.c.id == tenant_id).values(state="deleting"))
    await session.execute(
        update(integrations).where(integrations.c.tenant_id == tenant_id).values(disabled=True)
    )


async def drop_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Remove the tenant's registry row (the last of it)."""
    await session.execute(delete(tenants).where(tenants.c.id == tenant_id))
