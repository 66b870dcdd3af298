"""Each tenant's time zone (from ``tenant.changed``), for quiet hours that name none."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import tenant_zones


async def remember_zone(session: AsyncSession, *, tenant_id: str, time_zone: str) -> None:
    """Store (or replace) the tenant's zone."""
    statement = insert(tenant_zones).values(tenant_id=tenant_id, time_zone=time_zone)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[tenant_zones.c.tenant_id],
            set_={"time_zone": statement.excluded.time_zone, "updated_at": func.now()},
        )
    )


async def zones_of(session: AsyncSession, *, tenant_ids: Iterable[str]) -> dict[str, str]:
    """The known zones of ``tenant_ids``."""
    rows = await session.execute(
        select(tenant_zones.c.tenant_id, tenant_zones.c.time_zone).where(
            tenant_zones.c.tenant_id.in_(set(tenant_ids))
        )
    )
    return {str(r.tenant_id): str(r.time_zone) for r in rows.all()}
