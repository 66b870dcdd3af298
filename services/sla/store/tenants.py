"""The tenants the sla service heard of, with the time zone of their default calendar."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.models import (
    SCHEMA,
    tenants,
)
from triage.runtime import fetch_together


async def tenant_zone(session: AsyncSession, *, tenant_id: str) -> str | None:
    """The tenant's IANA zone, if a ``tenant.changed`` event told us."""
    return (
        await session.execute(select(tenants.c.time_zone).where(tenants.c.tenant_id == tenant_id))
    ).scalar_one_or_none()


async def save_tenant_zone(session: AsyncSession, *, tenant_id: str, zone: str) -> None:
    """Record the tenant's zone."""
    await session.execute(
        insert(tenants)
        .values(tenant_id=tenant_id, time_zone=zone)
        .on_conflict_do_update(
            index_elements=[tenants.c.tenant_id],
            set_={"time_zone": zone, "updated_at": func.now()},
        )
    )


BATCH_ZONES = (
    f"SELECT tenant_id::text AS tenant_id, time_zone FROM {SCHEMA}.tenants "
    "WHERE tenant_id = ANY(%(tenant_ids)b::uuid[])"
)


async def tenant_zones(session: AsyncSession, *, tenant_ids: Sequence[str]) -> dict[str, str]:
    """The zones of the tenants among ``tenant_ids`` that told us one."""
    if not tenant_ids:
        return {}
    query = (BATCH_ZONES, {"tenant_ids": list(tenant_ids)})
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return {r["tenant_id"]: r["time_zone"] for r in rows}
