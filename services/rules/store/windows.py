"""Maintenance windows of the bound tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import WindowRecord
from services.rules.models import series, windows
from services.rules.store.rows import as_record
from services.rules.store.series import HELD


async def all_windows(session: AsyncSession) -> list[WindowRecord]:
    """Every window of the bound tenant, oldest first."""
    rows = (
        await session.execute(select(windows).order_by(windows.c.created_at, windows.c.id))
    ).all()
    return [as_record(WindowRecord, r) for r in rows]


async def get_window(
    session: AsyncSession, *, window_id: str, for_update: bool = False
) -> WindowRecord | None:
    """One window of the bound tenant."""
    stmt = select(windows).where(windows.c.id == window_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return None if row is None else as_record(WindowRecord, row)


async def insert_window(session: AsyncSession, values: dict[str, Any]) -> WindowRecord:
    """Insert a window and return it."""
    row = (await session.execute(windows.insert().values(**values).returning(windows))).one()
    return as_record(WindowRecord, row)


async def update_window(
    session: AsyncSession, *, window_id: str, values: dict[str, Any]
) -> WindowRecord:
    """Update a window and return it."""
    row = (
        await session.execute(
            update(windows).where(windows.c.id == window_id).values(**values).returning(windows)
        )
    ).one()
    return as_record(WindowRecord, row)


async def delete_window(session: AsyncSession, *, window_id: str) -> None:
    """Delete a window."""
    await session.execute(windows.delete().where(windows.c.id == window_id))


async def recheck_held_by(session: AsyncSession, *, window_id: str, at: datetime) -> int:
    """Make the series a window holds due for re-evaluation at ``at`` (the window changed)."""
    result = await session.execute(
        update(series)
        .where(HELD, series.c.suppressed_window_id == window_id)
        .values(suppressed_until=func.least(series.c.suppressed_until, at))
    )
    return int(getattr(result, "rowcount", 0) or 0)
