"""Ticket rows: the key lock, numbers, reads by id, number, key and series, writes, lists."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    bindparam,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain.tickets import (
    CloseReason,
    Priority,
    Source,
    Status,
    Ticket,
    TicketFilter,
)
from triage.runtime import raw_cursor

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_TICKET_ENUMS: dict[str, Any] = {
    "priority": Priority,
    "status": Status,
    "source": Source,
    "close_reason": CloseReason,
}
_TICKET_COLUMNS = [f.name for f in dataclasses.fields(Ticket)]


async def lock(session: AsyncSession, *, tenant_id: str, key: str) -> None:
    """Serialize every transaction that works on ``key`` of ``tenant_id`` until commit."""
    await session.execute(_LOCK, {"key": f"tickets:{tenant_id}:{key}"})


_NEXT_NUMBER = (
    insert(m.counters)
    .values(tenant_id=bindparam("tenant_id"), last_number=bindparam("count"))
    .on_conflict_do_update(
        index_elements=[m.counters.c.tenant_id],
        set_={"last_number": m.counters.c.last_number + bindparam("count")},
    )
    .returning(m.counters.c.last_number)
)


async def next_number(session: AsyncSession, *, tenant_id: str) -> int:
    """The tenant's next human ticket number (from its counter row, locked until commit)."""
    result = await session.execute(_NEXT_NUMBER, {"tenant_id": tenant_id, "count": 1})
    return int(result.scalar_one())


_NEXT_NUMBERS = (
    f"INSERT INTO {m.SCHEMA}.ticket_counters AS c (tenant_id, last_number) "
    "SELECT * FROM unnest(%(tenants)b::uuid[], %(counts)b::bigint[]) "
    "ON CONFLICT (tenant_id) DO UPDATE SET last_number = c.last_number + excluded.last_number "
    "RETURNING tenant_id::text, last_number"
)


async def next_numbers(session: AsyncSession, counts: Mapping[str, int]) -> dict[str, int]:
    """For each tenant (all bound), the last of its next ``counts[tenant]`` consecutive
    ticket numbers; the counter rows are taken in the mapping's order."""
    params = {"tenants": list(counts), "counts": list(counts.values())}
    async with raw_cursor(session, schema=m.SCHEMA, statement=_NEXT_NUMBERS) as cursor:
        await cursor.execute(_NEXT_NUMBERS, params)
        return {str(tenant): int(last) for tenant, last in await cursor.fetchall()}


def _ticket(row: Row[Any]) -> Ticket:
    return _ticket_from(dict(row._mapping))


def _ticket_from(data: dict[str, Any]) -> Ticket:
    for name, kind in _TICKET_ENUMS.items():
        data[name] = kind(data[name])
    data["linked_series_keys"] = tuple(data["linked_series_keys"] or ())
    data["notification_channel_ids"] = tuple(data["notification_channel_ids"] or ())
    return Ticket(**{k: data[k] for k in _TICKET_COLUMNS})


def _values(ticket: Ticket) -> dict[str, Any]:
    values = {name: getattr(ticket, name) for name in _TICKET_COLUMNS}
    for name in _TICKET_ENUMS:
        values[name] = int(values[name])
    values["linked_series_keys"] = list(ticket.linked_series_keys)
    values["notification_channel_ids"] = list(ticket.notification_channel_ids)
    return values


# Statements built once; each execution only binds its values.
_INSERT_TICKET = (
    insert(m.tickets)
    .values({name: bindparam(name) for name in _TICKET_COLUMNS})
    .on_conflict_do_nothing(
        index_elements=[m.tickets.c.tenant_id, m.tickets.c.dedup_key],
        index_where=text("closed_at IS NULL AND dedup_key IS NOT NULL"),
    )
    .returning(m.tickets.c.id)
)
_SAVE_TICKET = (
    m.tickets.update()
    .where(m.tickets.c.tenant_id == bindparam("b_tenant_id"), m.tickets.c.id == bindparam("b_id"))
    .values({name: bindparam(name) for name in _TICKET_COLUMNS if name not in ("id", "tenant_id")})
)


async def insert_ticket(session: AsyncSession, ticket: Ticket) -> bool:
    """Insert ``ticket``; False when an open ticket already holds its dedup key."""
    result = await session.execute(_INSERT_TICKET, _values(ticket))
    return result.first() is not None


def _save_params(ticket: Ticket) -> dict[str, Any]:
    values = _values(ticket)
    values["b_id"] = values.pop("id")
    values["b_tenant_id"] = values.pop("tenant_id")
    return values


async def save_ticket(session: AsyncSession, ticket: Ticket) -> None:
    """Write every field of ``ticket`` back to its row."""
    await session.execute(_SAVE_TICKET, _save_params(ticket))


async def get_ticket(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, for_update: bool = False
) -> Ticket | None:
    """One ticket by id."""
    t = m.tickets
    query = select(t).where(t.c.tenant_id == tenant_id, t.c.id == ticket_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else _ticket(row)


async def get_ticket_by_number(
    session: AsyncSession, *, tenant_id: str, number: int, for_update: bool = False
) -> Ticket | None:
    """One ticket by its human number."""
    t = m.tickets
    query = select(t).where(t.c.tenant_id == tenant_id, t.c.number == number)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else _ticket(row)


async def open_ticket_for_key(
    session: AsyncSession, *, tenant_id: str, dedup_key: str
) -> Ticket | None:
    """The open ticket holding ``dedup_key``, locked."""
    t = m.tickets
    row = (
        await session.execute(
            select(t)
            .where(t.c.tenant_id == tenant_id, t.c.dedup_key == dedup_key)
            .where(t.c.closed_at.is_(None))
            .with_for_update()
        )
    ).first()
    return None if row is None else _ticket(row)


async def open_ticket_for_series(
    session: AsyncSession, *, tenant_id: str, series_key: str
) -> Ticket | None:
    """The open ticket linked to alert series ``series_key``, locked (newest first)."""
    t = m.tickets
    row = (
        await session.execute(
            select(t)
            .where(t.c.tenant_id == tenant_id, t.c.linked_series_keys.contains([series_key]))
            .where(t.c.closed_at.is_(None))
            .order_by(t.c.created_at.desc())
            .limit(1)
            .with_for_update()
        )
    ).first()
    return None if row is None else _ticket(row)


async def last_closed_for_key(
    session: AsyncSession, *, tenant_id: str, dedup_key: str
) -> Ticket | None:
    """The most recently closed ticket of ``dedup_key``, locked."""
    t = m.tickets
    row = (
        await session.execute(
            select(t)
            .where(t.c.tenant_id == tenant_id, t.c.dedup_key == dedup_key)
            .where(t.c.closed_at.is_not(None))
            .order_by(t.c.closed_at.desc())
            .limit(1)
            .with_for_update()
        )
    ).first()
    return None if row is None else _ticket(row)


async def list_tickets(
    session: AsyncSession,
    *,
    tenant_id: str,
    where: TicketFilter,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Ticket]:
    """Tickets newest first, after the keyset position ``(created_at, id)``."""
    t = m.tickets
    query = select(t).where(t.c.tenant_id == tenant_id)
    if where.statuses:
        query = query.where(t.c.status.in_([int(s) for s in where.statuses]))
    if where.open is not None:
        query = query.where(t.c.closed_at.is_(None) if where.open else t.c.closed_at.is_not(None))
    if where.priorities:
        query = query.where(t.c.priority.in_([int(p) for p in where.priorities]))
    for column, value in (
        (t.c.queue, where.queue),
        (t.c.assignee, where.assignee),
        (t.c.client_id, where.client_id),
        (t.c.device_id, where.device_id),
        (t.c.dedup_key, where.dedup_key),
    ):
        if value:
            query = query.where(column == value)
    if where.source is not Source.UNSPECIFIED:
        query = query.where(t.c.source == int(where.source))
    if where.series_key:
        query = query.where(t.c.linked_series_keys.contains([where.series_key]))
    if where.start is not None:
        query = query.where(t.c.created_at >= where.start)
    if where.end is not None:
        query = query.where(t.c.created_at < where.end)
    if where.query:
        pattern = "%" + where.query.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        pattern += "%"
        query = query.where(or_(t.c.title.ilike(pattern), t.c.description.ilike(pattern)))
    if after is not None:
        created, ticket_id = after
        query = query.where(
            or_(t.c.created_at < created, and_(t.c.created_at == created, t.c.id < ticket_id))
        )
    query = query.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
    return [_ticket(r) for r in (await session.execute(query)).all()]
