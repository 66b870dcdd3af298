"""Queries for flap damping: a series' recent triggers and resets, open flapping tickets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain.alerts import AlertKind
from services.tickets.domain.flapping import StateEvent

_L = m.series_log
_T = m.tickets


async def state_events(
    session: AsyncSession, *, tenant_id: str, series_keys: Sequence[str], since: datetime | None
) -> list[StateEvent]:
    """The logged triggers and resets of ``series_keys`` that occurred at or after ``since``
    (None: all of them), in occurrence order."""
    if not series_keys:
        return []
    query = select(_L.c.occurred_at, _L.c.sequence, _L.c.kind).where(
        _L.c.tenant_id == tenant_id,
        _L.c.series_key.in_(list(series_keys)),
        _L.c.kind.in_([int(AlertKind.TRIGGER), int(AlertKind.RESET)]),
    )
    if since is not None:
        query = query.where(_L.c.occurred_at >= since)
    rows = (await session.execute(query.order_by(_L.c.occurred_at, _L.c.sequence))).all()
    return [(r.occurred_at, r.sequence, AlertKind(r.kind)) for r in rows]


async def open_flapping(session: AsyncSession, *, limit: int) -> list[tuple[str, str]]:
    """``(tenant_id, ticket_id)`` of open flapping tickets, least recently changed first
    (a system transaction: every tenant). A flapping ticket's triggers update it and its
    resets do not, so the quiet ones come first and a page of busy ones cannot starve
    them."""
    query = (
        select(_T.c.tenant_id, _T.c.id)
        .where(_T.c.flapping_since.is_not(None), _T.c.closed_at.is_(None))
        .order_by(_T.c.updated_at)
        .limit(limit)
    )
    return [(str(r.tenant_id), str(r.id)) for r in (await session.execute(query)).all()]
