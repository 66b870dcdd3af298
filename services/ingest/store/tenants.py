"""Queries over ``tenants``. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.tenants import Tenant
from services.ingest.models import tenants


def _tenant(row: Row[Any]) -> Tenant:
    return Tenant(**row._mapping)


async def get_tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    """One tenant (visible only to itself or to the owner)."""
    row = (await session.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
    return _tenant(row) if row is not None else None


async def list_tenants(
    session: AsyncSession, *, after: tuple[datetime, str] | None, limit: int
) -> list[Tenant]:
    """A page of tenants, oldest first (owner session only)."""
    query = select(tenants)
    if after is not None:
        query = query.where(
            or_(
                tenants.c.created_at > after[0],
                and_(tenants.c.created_at == after[0], tenants.c.id > after[1]),
            )
        )
    rows = (
        await session.execute(query.order_by(tenants.c.created_at, tenants.c.id).limit(limit))
    ).all()
    return [_tenant(r) for r in rows]


async def insert_tenant(
    session: AsyncSession, *, tenant_id: str, display_name: str, time_zone: str
) -> Tenant:
    """Register a tenant (its row is its own tenant)."""
    row = (
        await session.execute(
            tenants.insert()
            .values(
                id=tenant_id, tenant_id=tenant_id, display_name=display_name, time_zone=time_zone
            )
            .returning(*tenants.c)
        )
    ).one()
    return _tenant(row)


async def update_tenant(
    session: AsyncSession, *, tenant_id: str, changes: dict[str, Any], version: int, at: datetime
) -> Tenant:
    """Write ``changes`` and the next ``version``."""
    row = (
        await session.execute(
            update(tenants)
            .where(tenants.c.id == tenant_id)
            .values(**changes, updated_at=at, version=version)
            .returning(*tenants.c)
        )
    ).one()
    return _tenant(row)
