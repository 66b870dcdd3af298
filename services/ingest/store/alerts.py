"""Reads of ``alert_events`` and the suppression the rules decided. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.alert_events import AlertFilters, StoredAlert
from services.ingest.models import alert_events, webhook_bodies


def without_body() -> list[Any]:
    return [col for col in alert_events.c if col.name != "raw_body"]


def raw_body() -> Any:
    """An alert's raw body: on the row for rows stored before ``webhook_bodies``, else the
    body it points to."""
    body = (
        select(webhook_bodies.c.raw_body)
        .where(webhook_bodies.c.id == alert_events.c.body_id)
        .correlate(alert_events)
        .scalar_subquery()
    )
    return func.coalesce(alert_events.c.raw_body, body).label("raw_body")


def stored_alert(row: Row[Any] | Any) -> StoredAlert:
    """The alert event of a row read with or without its raw body."""
    return StoredAlert(**row._mapping)


async def get_alert(session: AsyncSession, alert_id: str) -> StoredAlert | None:
    """One alert event of the bound tenant, with its raw body."""
    query = select(*without_body(), raw_body()).where(alert_events.c.id == alert_id)
    row = (await session.execute(query)).first()
    return stored_alert(row) if row is not None else None


async def list_alerts(
    session: AsyncSession,
    *,
    filters: AlertFilters,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[StoredAlert]:
    """A page of the bound tenant's alert events, newest first."""
    c = alert_events.c
    query = select(*without_body())
    conditions = []
    v: Any
    if v := filters.integration_id:
        conditions.append(c.integration_id == v)
    if v := filters.providers:
        conditions.append(c.provider.in_(v))
    if v := filters.kinds:
        conditions.append(c.kind.in_(v))
    if v := filters.series_key:
        conditions.append(c.series_key == v)
    if v := filters.device_id:
        conditions.append(c.device_id == v)
    if v := filters.client_id:
        conditions.append(c.client_id == v)
    if v := filters.min_severity:
        conditions.append(c.severity >= v)
    if v := filters.start_time:
        conditions.append(c.received_at >= v)
    if v := filters.end_time:
        conditions.append(c.received_at < v)
    if (v := filters.suppressed) is not None:
        conditions.append(c.suppressed.is_(v))
    if v := filters.reset_state:
        conditions.append(c.reset_state == v)
    if before is not None:
        conditions.append(
            or_(c.received_at < before[0], and_(c.received_at == before[0], c.id < before[1]))
        )
    query = query.where(*conditions).order_by(c.received_at.desc(), c.id.desc()).limit(limit)
    return [stored_alert(r) for r in (await session.execute(query)).all()]


async def count_alerts(session: AsyncSession) -> int:
    """How many alert events the bound tenant has."""
    return int((await session.execute(select(func.count()).select_from(alert_events))).scalar_one())


async def mark_suppression(
    session: AsyncSession, alert_id: str, suppressed: bool, window_id: str | None
) -> None:
    """Mirror a window decision onto a stored alert (suppressed by window, or not)."""
    await session.execute(
        update(alert_events)
        .where(alert_events.c.id == alert_id)
        .values(suppressed=suppressed, suppression_window_id=window_id)
    )
