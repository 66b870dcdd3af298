"""Queries over ``series_log``: each series' triggers and resets with their tickets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain.alerts import AlertKind
from services.tickets.domain.order import Logged, Position
from triage.runtime import raw_cursor

_INSERT = (
    f"INSERT INTO {m.SCHEMA}.series_log (tenant_id, series_key, alert_id, kind, occurred_at, "
    "sequence, ticket_id, close_on_reset, reset_in_rmm_on_close, origin) "
    "SELECT * FROM unnest(%(tenant_id)b::uuid[], %(series_key)b::text[], %(alert_id)b::text[], "
    "%(kind)b::smallint[], %(occurred_at)b::timestamptz[], %(sequence)b::bigint[], "
    "%(ticket_id)b::uuid[], %(close_on_reset)b::boolean[], %(reset_in_rmm_on_close)b::boolean[], "
    "%(origin)b::text[]) ON CONFLICT DO NOTHING"
)
_L = m.series_log
_POSITION = (_L.c.occurred_at, _L.c.sequence)


def _entry(row: Row[Any]) -> Logged:
    return Logged(
        series_key=row.series_key,
        alert_id=row.alert_id,
        kind=AlertKind(row.kind),
        occurred_at=row.occurred_at,
        sequence=row.sequence,
        ticket_id=None if row.ticket_id is None else str(row.ticket_id),
        close_on_reset=row.close_on_reset,
        reset_in_rmm_on_close=row.reset_in_rmm_on_close,
        origin=row.origin,
    )


async def add_many(session: AsyncSession, entries: Sequence[tuple[str, Logged]]) -> None:
    """Log ``(tenant_id, entry)`` pairs in one statement (an alert logged twice stays once)."""
    if not entries:
        return
    params: dict[str, list[Any]] = {
        "tenant_id": [t for t, _ in entries],
        "series_key": [e.series_key for _, e in entries],
        "alert_id": [e.alert_id for _, e in entries],
        "kind": [int(e.kind) for _, e in entries],
        "occurred_at": [e.occurred_at for _, e in entries],
        "sequence": [e.sequence for _, e in entries],
        "ticket_id": [e.ticket_id for _, e in entries],
        "close_on_reset": [e.close_on_reset for _, e in entries],
        "reset_in_rmm_on_close": [e.reset_in_rmm_on_close for _, e in entries],
        "origin": [e.origin for _, e in entries],
    }
    async with raw_cursor(session, schema=m.SCHEMA, statement=_INSERT) as cursor:
        await cursor.execute(_INSERT, params)


async def add(session: AsyncSession, *, tenant_id: str, entry: Logged) -> None:
    """Log one entry."""
    await add_many(session, [(tenant_id, entry)])


async def reassign(
    session: AsyncSession,
    *,
    tenant_id: str,
    entries: Iterable[Logged],
    ticket_id: str | None,
) -> None:
    """Point ``entries`` at ``ticket_id`` (their events now belong to that ticket; None:
    to no ticket)."""
    pairs = [(e.series_key, e.alert_id) for e in entries]
    if not pairs:
        return
    await session.execute(
        update(_L)
        .where(_L.c.tenant_id == tenant_id, tuple_(_L.c.series_key, _L.c.alert_id).in_(pairs))
        .values(ticket_id=ticket_id)
    )


async def reassign_alerts(
    session: AsyncSession,
    *,
    tenant_id: str,
    series_key: str,
    alert_ids: Sequence[str],
    ticket_id: str,
) -> None:
    """Point the series' logged ``alert_ids`` at ``ticket_id``."""
    if alert_ids:
        await session.execute(
            update(_L)
            .where(
                _L.c.tenant_id == tenant_id,
                _L.c.series_key == series_key,
                _L.c.alert_id.in_(alert_ids),
            )
            .values(ticket_id=ticket_id)
        )


# For each wanted series, its newest trigger and its newest reset, each walking an index
# backwards: the key's for triggers (most entries), the resets' partial index for resets (a
# series without one costs no scan of its triggers). One SQL text whatever the number of
# series, so PostgreSQL plans it once per connection.
_LATEST_OF_KIND = (
    "SELECT w.tenant_id::text, w.series_key, {kind}::smallint, l.occurred_at, l.sequence "
    "FROM unnest(%(tenant_id)b::uuid[], %(series_key)b::text[]) AS w(tenant_id, series_key) "
    "CROSS JOIN LATERAL (SELECT s.occurred_at, s.sequence "
    f"FROM {m.SCHEMA}.series_log AS s "
    "WHERE s.tenant_id = w.tenant_id AND s.series_key = w.series_key AND s.kind = {kind} "
    "ORDER BY s.occurred_at DESC, s.sequence DESC LIMIT 1) AS l"
)
_LATEST = " UNION ALL ".join(
    _LATEST_OF_KIND.format(kind=int(kind)) for kind in (AlertKind.TRIGGER, AlertKind.RESET)
)


async def latest(
    session: AsyncSession, series: Iterable[tuple[str, str]]
) -> dict[tuple[str, str, AlertKind], Position]:
    """The latest logged trigger's and reset's positions, by ``(tenant_id, series_key,
    kind)``, of each ``(tenant_id, series_key)`` (tenants bound)."""
    wanted = sorted(set(series))
    if not wanted:
        return {}
    params = {
        "tenant_id": [t for t, _ in wanted],
        "series_key": [k for _, k in wanted],
    }
    async with raw_cursor(session, schema=m.SCHEMA, statement=_LATEST) as cursor:
        await cursor.execute(_LATEST, params)
        rows = await cursor.fetchall()
    return {
        (tenant, key, AlertKind(kind)): (occurred_at, sequence)
        for tenant, key, kind, occurred_at, sequence in rows
    }


async def _nearest(
    session: AsyncSession,
    *,
    tenant_id: str,
    series_key: str,
    kind: AlertKind,
    where: ColumnElement[bool],
    newest: bool,
    acted: bool = False,
) -> Logged | None:
    """The series' first (or, ``newest``, last) logged ``kind`` matching ``where`` (and,
    ``acted``, with a ticket)."""
    acting = [_L.c.ticket_id.is_not(None)] if acted else []
    order = (_L.c.occurred_at.desc(), _L.c.sequence.desc()) if newest else _POSITION
    row = (
        await session.execute(
            select(_L)
            .where(
                _L.c.tenant_id == tenant_id,
                _L.c.series_key == series_key,
                _L.c.kind == int(kind),
                where,
                *acting,
            )
            .order_by(*order)
            .limit(1)
        )
    ).first()
    return None if row is None else _entry(row)


async def next_reset(
    session: AsyncSession, *, tenant_id: str, series_key: str, after: Position
) -> Logged | None:
    """The series' first logged reset after ``after``."""
    return await _nearest(
        session,
        tenant_id=tenant_id,
        series_key=series_key,
        kind=AlertKind.RESET,
        where=tuple_(*_POSITION) > tuple_(*after),
        newest=False,
    )


async def first_trigger_after(
    session: AsyncSession,
    *,
    tenant_id: str,
    series_key: str,
    after: Position,
    acted: bool = False,
) -> Logged | None:
    """The series' first logged trigger after ``after`` (``acted``: that counted on a
    ticket)."""
    return await _nearest(
        session,
        tenant_id=tenant_id,
        series_key=series_key,
        kind=AlertKind.TRIGGER,
        where=tuple_(*_POSITION) > tuple_(*after),
        newest=False,
        acted=acted,
    )


async def last_trigger_before(
    session: AsyncSession, *, tenant_id: str, series_key: str, upto: Position
) -> Logged | None:
    """The series' latest logged trigger at or before ``upto`` that counted on a ticket."""
    return await _nearest(
        session,
        tenant_id=tenant_id,
        series_key=series_key,
        kind=AlertKind.TRIGGER,
        where=tuple_(*_POSITION) <= tuple_(*upto),
        newest=True,
        acted=True,
    )


async def last_reset_before(
    session: AsyncSession,
    *,
    tenant_id: str,
    series_key: str,
    before: Position,
    acted: bool = False,
) -> Logged | None:
    """The series' latest logged reset before ``before`` (``acted``: that acted on a
    ticket)."""
    return await _nearest(
        session,
        tenant_id=tenant_id,
        series_key=series_key,
        kind=AlertKind.RESET,
        where=tuple_(*_POSITION) < tuple_(*before),
        newest=True,
        acted=acted,
    )


async def triggers_between(
    session: AsyncSession,
    *,
    tenant_id: str,
    series_key: str,
    after: Position | None,
    before: Position | None,
) -> list[Logged]:
    """The series' logged triggers strictly between ``after`` and ``before`` (None: no
    bound), oldest first."""
    bounds = []
    if after is not None:
        bounds.append(tuple_(*_POSITION) > tuple_(*after))
    if before is not None:
        bounds.append(tuple_(*_POSITION) < tuple_(*before))
    rows = await session.execute(
        select(_L)
        .where(
            _L.c.tenant_id == tenant_id,
            _L.c.series_key == series_key,
            _L.c.kind == int(AlertKind.TRIGGER),
            *bounds,
        )
        .order_by(*_POSITION)
    )
    return [_entry(r) for r in rows]


async def up_to_next_reset(
    session: AsyncSession, *, tenant_id: str, series_key: str, after: Position
) -> tuple[list[Logged], Logged | None]:
    """The series' logged triggers after ``after`` up to its next logged reset, oldest
    first, and that reset (None: none is logged after ``after``)."""
    following = await next_reset(session, tenant_id=tenant_id, series_key=series_key, after=after)
    triggers = await triggers_between(
        session,
        tenant_id=tenant_id,
        series_key=series_key,
        after=after,
        before=None if following is None else following.position,
    )
    return triggers, following


async def of_ticket(session: AsyncSession, *, tenant_id: str, ticket_id: str) -> list[Logged]:
    """Every logged event of ``ticket_id``, oldest first."""
    rows = await session.execute(
        select(_L)
        .where(and_(_L.c.tenant_id == tenant_id, _L.c.ticket_id == ticket_id))
        .order_by(_L.c.occurred_at, _L.c.sequence)
    )
    return [_entry(r) for r in rows]


_PURGE = (
    f"DELETE FROM {m.SCHEMA}.series_log WHERE ctid = ANY(ARRAY("
    f"SELECT ctid FROM {m.SCHEMA}.series_log WHERE occurred_at < %(before)s LIMIT %(limit)s))"
)


async def purge_before(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` entries of alerts that occurred before ``before`` (owner
    session: every tenant); returns how many went."""
    async with raw_cursor(session, schema=m.SCHEMA, statement=_PURGE) as cursor:
        await cursor.execute(_PURGE, {"before": before, "limit": limit})
        return int(cursor.rowcount or 0)
