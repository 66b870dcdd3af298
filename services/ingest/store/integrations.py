"""Queries over ``integrations``. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.integrations import Integration
from services.ingest.models import integrations


def _integration(row: Row[Any]) -> Integration:
    return Integration(**row._mapping)


async def get_integration(session: AsyncSession, integration_id: str) -> Integration | None:
    """One live integration of the bound tenant (any tenant in an owner session)."""
    row = (
        await session.execute(
            select(integrations).where(
                integrations.c.id == integration_id, integrations.c.deleted_at.is_(None)
            )
        )
    ).first()
    return _integration(row) if row is not None else None


async def list_integrations(
    session: AsyncSession,
    *,
    provider: str | None,
    show_disabled: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Integration]:
    """A page of the bound tenant's integrations, oldest first."""
    query = select(integrations).where(integrations.c.deleted_at.is_(None))
    if provider:
        query = query.where(integrations.c.provider == provider)
    if not show_disabled:
        query = query.where(integrations.c.disabled.is_(False))
    if after is not None:
        query = query.where(
            or_(
                integrations.c.created_at > after[0],
                and_(integrations.c.created_at == after[0], integrations.c.id > after[1]),
            )
        )
    query = query.order_by(integrations.c.created_at, integrations.c.id).limit(limit)
    return [_integration(r) for r in (await session.execute(query)).all()]


async def integrations_by_id(
    session: AsyncSession, integration_ids: Sequence[str]
) -> dict[str, Integration]:
    """Integrations by id, deleted ones included (owner session: any tenant)."""
    if not integration_ids:
        return {}
    rows = (
        await session.execute(
            select(integrations).where(integrations.c.id.in_(list(integration_ids)))
        )
    ).all()
    return {str(r.id): _integration(r) for r in rows}


async def insert_integration(session: AsyncSession, values: dict[str, Any]) -> Integration:
    """Store a new integration (``values`` are its columns)."""
    row = (
        await session.execute(integrations.insert().values(**values).returning(*integrations.c))
    ).one()
    return _integration(row)


async def update_integration(
    session: AsyncSession, integration_id: str, values: dict[str, Any]
) -> Integration:
    """Write ``values`` to an integration; returns it as it is now."""
    row = (
        await session.execute(
            update(integrations)
            .where(integrations.c.id == integration_id)
            .values(**values)
            .returning(*integrations.c)
        )
    ).one()
    return _integration(row)


async def mark_deleted(
    session: AsyncSession, integration_id: str, *, at: datetime, version: int
) -> None:
    """Delete an integration softly (its alerts keep pointing at it)."""
    await session.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(deleted_at=at, version=version)
    )


async def touch_integrations(
    session: AsyncSession, integration_ids: Sequence[str], at: datetime
) -> None:
    """Record when integrations last delivered."""
    await session.execute(
        update(integrations)
        .where(integrations.c.id.in_(list(integration_ids)))
        .values(last_received_at=at)
    )
