"""Outbound reset state of stored alerts: request, lease, record. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.alert_events import StoredAlert
from services.ingest.models import alert_events
from services.ingest.store.alerts import raw_body, stored_alert, without_body


async def latest_series_alert(
    session: AsyncSession, *, series_key: str, kinds: Sequence[str], lock: bool = False
) -> StoredAlert | None:
    """The bound tenant's latest event of ``kinds`` in a series, by when it happened."""
    c = alert_events.c
    query = (
        select(*without_body())
        .where(c.series_key == series_key, c.kind.in_(list(kinds)))
        .order_by(
            func.coalesce(c.occurred_at, c.received_at).desc(), c.received_at.desc(), c.id.desc()
        )
        .limit(1)
    )
    if lock:
        query = query.with_for_update(of=alert_events)
    row = (await session.execute(query)).first()
    return stored_alert(row) if row is not None else None


async def set_reset(session: AsyncSession, *, alert_id: str, values: dict[str, Any]) -> StoredAlert:
    """Write an alert event's outbound reset columns; returns the row (without raw body)."""
    row = (
        await session.execute(
            update(alert_events)
            .where(alert_events.c.id == alert_id)
            .values(**values)
            .returning(*without_body())
        )
    ).one()
    return stored_alert(row)


async def claim_due_resets(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[StoredAlert]:
    """Lease up to ``limit`` due pending resets (any tenant) by moving their due time on.

    Rows locked by another claimer are skipped; the lease value fences a late writer.
    """
    c = alert_events.c
    due = (
        select(c.id)
        .where(c.reset_state == "pending", c.reset_next_attempt_at <= now)
        .order_by(c.reset_next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(alert_events)
        .where(c.id.in_(due.scalar_subquery()))
        .values(reset_next_attempt_at=lease_until)
        .returning(*without_body(), raw_body())
    )
    return [stored_alert(r) for r in (await session.execute(statement)).all()]


async def record_reset(
    session: AsyncSession, *, alert_id: str, lease: datetime, values: dict[str, Any]
) -> StoredAlert | None:
    """Record an attempt, only if the lease still holds (None: another worker took over)."""
    c = alert_events.c
    row = (
        await session.execute(
            update(alert_events)
            .where(c.id == alert_id, c.reset_state == "pending", c.reset_next_attempt_at == lease)
            .values(**values)
            .returning(*without_body())
        )
    ).first()
    return stored_alert(row) if row is not None else None


async def next_reset_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending reset is due (any tenant), if there is one."""
    c = alert_events.c
    value = (
        await session.execute(
            select(func.min(c.reset_next_attempt_at)).where(c.reset_state == "pending")
        )
    ).scalar_one()
    return value if isinstance(value, datetime) else None
