"""Queries over the ``tickets`` schema; every function takes the caller's session, none commits."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import (
    Row,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain import (
    AuthorKind,
    Cause,
    CloseReason,
    Comment,
    FieldChange,
    HistoryEntry,
    HistoryKind,
    Priority,
    Source,
    Status,
    TenantSettings,
    Ticket,
    TimeEntry,
    Visibility,
)
from triage.runtime import fetch_together, raw_cursor, select_list

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


# --- settings and numbers -----------------------------------------------------------------


async def get_settings(session: AsyncSession, *, tenant_id: str) -> TenantSettings:
    """The tenant's settings, or the defaults when it never set any."""
    return (await get_settings_many(session, [tenant_id]))[tenant_id]


def _settings(row: Mapping[str, Any]) -> TenantSettings:
    return TenantSettings(
        closed_statuses=frozenset(Status(s) for s in row["closed_statuses"]),
        pausing_statuses=frozenset(Status(s) for s in row["pausing_statuses"]),
        occurrence_comment_interval=timedelta(seconds=row["occurrence_comment_interval_seconds"]),
        reopen_within=timedelta(seconds=row["reopen_within_seconds"]),
    )


async def put_settings(session: AsyncSession, *, tenant_id: str, settings: TenantSettings) -> None:
    """Store the tenant's settings."""
    values = {
        "closed_statuses": sorted(int(s) for s in settings.closed_statuses),
        "pausing_statuses": sorted(int(s) for s in settings.pausing_statuses),
        "occurrence_comment_interval_seconds": settings.occurrence_comment_interval.total_seconds(),
        "reopen_within_seconds": settings.reopen_within.total_seconds(),
        "updated_at": func.now(),
    }
    await session.execute(
        insert(m.settings)
        .values(tenant_id=tenant_id, **values)
        .on_conflict_do_update(index_elements=[m.settings.c.tenant_id], set_=values)
    )


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


# --- tickets -----------------------------------------------------------------------------


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


async def insert_tickets(session: AsyncSession, tickets: Sequence[Ticket]) -> int:
    """Insert ``tickets`` in one statement; how many were inserted (not taken by an open
    ticket, nor by one earlier in ``tickets``)."""
    if not tickets:
        return 0
    async with raw_cursor(session, schema=m.SCHEMA, statement=_INSERT_TICKETS) as cursor:
        await cursor.execute(_INSERT_TICKETS, _batch_params(tickets))
        return len(await cursor.fetchall())


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


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """ListTickets filters (empty values do not filter)."""

    statuses: tuple[Status, ...] = ()
    open: bool | None = None
    priorities: tuple[Priority, ...] = ()
    queue: str = ""
    assignee: str = ""
    client_id: str = ""
    device_id: str = ""
    source: Source = Source.UNSPECIFIED
    series_key: str = ""
    dedup_key: str = ""
    start: datetime | None = None
    end: datetime | None = None
    query: str = ""


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


# --- comments, time entries, history --------------------------------------------------------


async def add_comment(session: AsyncSession, *, tenant_id: str, comment: Comment) -> Comment:
    """Insert a comment; returns it with its sequence."""
    c = m.comments
    seq = (
        await session.execute(
            c.insert()
            .values(
                id=comment.id,
                tenant_id=tenant_id,
                ticket_id=comment.ticket_id,
                body=comment.body,
                visibility=int(comment.visibility),
                author_kind=int(comment.author_kind),
                author=comment.author,
                created_at=comment.created_at,
            )
            .returning(c.c.seq)
        )
    ).scalar_one()
    return dataclasses.replace(comment, seq=int(seq))


async def list_comments(
    session: AsyncSession,
    *,
    tenant_id: str,
    ticket_id: str,
    visibility: Visibility,
    after_seq: int,
    limit: int,
) -> list[Comment]:
    """A ticket's comments oldest first, after ``after_seq``."""
    c = m.comments
    query = select(c).where(
        c.c.tenant_id == tenant_id, c.c.ticket_id == ticket_id, c.c.seq > after_seq
    )
    if visibility is not Visibility.UNSPECIFIED:
        query = query.where(c.c.visibility == int(visibility))
    rows = (await session.execute(query.order_by(c.c.seq).limit(limit))).all()
    return [
        Comment(
            id=r.id,
            ticket_id=r.ticket_id,
            body=r.body,
            visibility=Visibility(r.visibility),
            author_kind=AuthorKind(r.author_kind),
            author=r.author,
            created_at=r.created_at,
            seq=r.seq,
        )
        for r in rows
    ]


async def add_time_entry(session: AsyncSession, *, tenant_id: str, entry: TimeEntry) -> TimeEntry:
    """Insert a time entry; returns it with its sequence."""
    e = m.time_entries
    seq = (
        await session.execute(
            e.insert()
            .values(
                id=entry.id,
                tenant_id=tenant_id,
                ticket_id=entry.ticket_id,
                duration_seconds=entry.duration.total_seconds(),
                start_at=entry.start_at,
                note=entry.note,
                billable=entry.billable,
                author=entry.author,
                created_at=entry.created_at,
            )
            .returning(e.c.seq)
        )
    ).scalar_one()
    return dataclasses.replace(entry, seq=int(seq))


async def list_time_entries(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, after_seq: int, limit: int
) -> list[TimeEntry]:
    """A ticket's time entries oldest first, after ``after_seq``."""
    e = m.time_entries
    rows = (
        await session.execute(
            select(e)
            .where(e.c.tenant_id == tenant_id, e.c.ticket_id == ticket_id, e.c.seq > after_seq)
            .order_by(e.c.seq)
            .limit(limit)
        )
    ).all()
    return [
        TimeEntry(
            id=r.id,
            ticket_id=r.ticket_id,
            duration=timedelta(seconds=r.duration_seconds),
            start_at=r.start_at,
            note=r.note,
            billable=r.billable,
            author=r.author,
            created_at=r.created_at,
            seq=r.seq,
        )
        for r in rows
    ]


async def add_history(session: AsyncSession, *, tenant_id: str, entry: HistoryEntry) -> None:
    """Append a history entry."""
    await add_history_many(session, [(tenant_id, entry)])


async def list_history(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, after_seq: int, limit: int
) -> list[HistoryEntry]:
    """A ticket's history oldest first, after ``after_seq``."""
    h = m.history
    rows = (
        await session.execute(
            select(h)
            .where(h.c.tenant_id == tenant_id, h.c.ticket_id == ticket_id, h.c.seq > after_seq)
            .order_by(h.c.seq)
            .limit(limit)
        )
    ).all()
    return [
        HistoryEntry(
            id=r.id,
            ticket_id=r.ticket_id,
            kind=HistoryKind(r.kind),
            cause=Cause(r.cause),
            actor=r.actor,
            changes=tuple(FieldChange(**c) for c in r.changes),
            detail=r.detail,
            created_at=r.created_at,
            seq=r.seq,
        )
        for r in rows
    ]


# --- tombstones and the trigger log ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tombstone:
    """The latest reset seen for a series."""

    reset_at: datetime
    reset_sequence: int


async def get_tombstone(
    session: AsyncSession, *, tenant_id: str, series_key: str
) -> Tombstone | None:
    """The series' latest reset, if one was seen."""
    s = m.tombstones
    row = (
        await session.execute(
            select(s.c.reset_at, s.c.reset_sequence).where(
                s.c.tenant_id == tenant_id, s.c.series_key == series_key
            )
        )
    ).first()
    return None if row is None else Tombstone(row.reset_at, row.reset_sequence)


_PUT_TOMBSTONE_INSERT = insert(m.tombstones).values(
    tenant_id=bindparam("tenant_id"),
    series_key=bindparam("series_key"),
    reset_at=bindparam("reset_at"),
    reset_sequence=bindparam("reset_sequence"),
    alert_id=bindparam("alert_id"),
)
_PUT_TOMBSTONE = _PUT_TOMBSTONE_INSERT.on_conflict_do_update(
    index_elements=[m.tombstones.c.tenant_id, m.tombstones.c.series_key],
    set_={
        "reset_at": _PUT_TOMBSTONE_INSERT.excluded.reset_at,
        "reset_sequence": _PUT_TOMBSTONE_INSERT.excluded.reset_sequence,
        "alert_id": _PUT_TOMBSTONE_INSERT.excluded.alert_id,
    },
    where=or_(
        _PUT_TOMBSTONE_INSERT.excluded.reset_at > m.tombstones.c.reset_at,
        and_(
            _PUT_TOMBSTONE_INSERT.excluded.reset_at == m.tombstones.c.reset_at,
            _PUT_TOMBSTONE_INSERT.excluded.reset_sequence > m.tombstones.c.reset_sequence,
        ),
    ),
)


async def put_tombstone(
    session: AsyncSession,
    *,
    tenant_id: str,
    series_key: str,
    reset_at: datetime,
    reset_sequence: int,
    alert_id: str,
) -> None:
    """Record a reset of the series, keeping the latest one."""
    await session.execute(
        _PUT_TOMBSTONE,
        {
            "tenant_id": tenant_id,
            "series_key": series_key,
            "reset_at": reset_at,
            "reset_sequence": reset_sequence,
            "alert_id": alert_id,
        },
    )


async def log_trigger(
    session: AsyncSession, *, tenant_id: str, dedup_key: str, alert_id: str, occurred_at: datetime
) -> None:
    """Remember a trigger of ``dedup_key`` for the persistence delay."""
    await session.execute(
        insert(m.trigger_log)
        .values(
            tenant_id=tenant_id, dedup_key=dedup_key, alert_id=alert_id, occurred_at=occurred_at
        )
        .on_conflict_do_nothing()
    )


async def trigger_times(
    session: AsyncSession, *, tenant_id: str, dedup_key: str, since: datetime
) -> list[tuple[datetime, str]]:
    """Logged triggers of ``dedup_key`` at or after ``since`` (time, alert id), oldest
    first."""
    g = m.trigger_log
    rows = await session.execute(
        select(g.c.occurred_at, g.c.alert_id)
        .where(g.c.tenant_id == tenant_id, g.c.dedup_key == dedup_key, g.c.occurred_at >= since)
        .order_by(g.c.occurred_at)
    )
    return [(r.occurred_at, r.alert_id) for r in rows]


async def clear_triggers(
    session: AsyncSession, *, tenant_id: str, dedup_key: str, before: datetime | None = None
) -> None:
    """Forget logged triggers of ``dedup_key`` (all of them, or those before ``before``)."""
    g = m.trigger_log
    statement = delete(g).where(g.c.tenant_id == tenant_id, g.c.dedup_key == dedup_key)
    if before is not None:
        statement = statement.where(g.c.occurred_at < before)
    await session.execute(statement)


# --- batch forms for the alert consumer (statements built once, one round trip each) -------

_LOCK_MANY = (
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%(keys)b::text[]) AS k"
)
_INSERT_HISTORY = (
    f"INSERT INTO {m.SCHEMA}.history "
    "(id, tenant_id, ticket_id, kind, cause, actor, changes, detail, created_at) "
    "SELECT * FROM unnest(%(id)b::uuid[], %(tenant_id)b::uuid[], %(ticket_id)b::uuid[], "
    "%(kind)b::smallint[], %(cause)b::smallint[], %(actor)b::text[], %(changes)b::jsonb[], "
    "%(detail)b::text[], %(created_at)b::timestamptz[])"
)
_INSERT_COMMENTS = (
    f"INSERT INTO {m.SCHEMA}.comments "
    "(id, tenant_id, ticket_id, body, visibility, author_kind, author, created_at) "
    "SELECT * FROM unnest(%(id)b::uuid[], %(tenant_id)b::uuid[], %(ticket_id)b::uuid[], "
    "%(body)b::text[], %(visibility)b::smallint[], %(author_kind)b::smallint[], "
    "%(author)b::text[], %(created_at)b::timestamptz[])"
)


# Every column of a ticket, as its own array. A text[] column cannot travel as a text[][]
# (unnest would flatten it, and the rows' arrays differ in length), so each row's array
# travels as its text form and is cast back.
_TICKET_ARRAY_COLUMNS = ("linked_series_keys", "notification_channel_ids")
_TICKET_TYPES: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("tenant_id", "uuid"),
    ("number", "bigint"),
    ("title", "text"),
    ("description", "text"),
    ("client_id", "text"),
    ("client_name", "text"),
    ("site_id", "text"),
    ("site_name", "text"),
    ("device_id", "text"),
    ("device_name", "text"),
    ("priority", "smallint"),
    ("status", "smallint"),
    ("queue", "text"),
    ("assignee", "text"),
    ("source", "smallint"),
    ("severity", "smallint"),
    ("condition", "text"),
    ("dedup_key", "text"),
    ("occurrence_count", "bigint"),
    ("first_occurrence_at", "timestamptz"),
    ("last_occurrence_at", "timestamptz"),
    ("linked_series_keys", "text"),
    ("rule_id", "text"),
    ("close_on_reset", "boolean"),
    ("reset_in_rmm_on_close", "boolean"),
    ("notification_channel_ids", "text"),
    ("human_touched", "boolean"),
    ("close_reason", "smallint"),
    ("reopen_count", "integer"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("version", "bigint"),
    ("occurrence_comment_at", "timestamptz"),
    ("uncommented_occurrences", "integer"),
)
_TICKET_ROWS = (
    "unnest("
    + ", ".join(f"%({name})b::{kind}[]" for name, kind in _TICKET_TYPES)
    + ") AS v("
    + ", ".join(name for name, _ in _TICKET_TYPES)
    + ")"
)


def _from_v(name: str) -> str:
    return f"v.{name}::text[]" if name in _TICKET_ARRAY_COLUMNS else f"v.{name}"


_INSERT_TICKETS = (
    f"INSERT INTO {m.SCHEMA}.tickets ("
    + ", ".join(name for name, _ in _TICKET_TYPES)
    + ") SELECT "
    + ", ".join(_from_v(name) for name, _ in _TICKET_TYPES)
    + f" FROM {_TICKET_ROWS}"
    " ON CONFLICT (tenant_id, dedup_key) WHERE closed_at IS NULL AND dedup_key IS NOT NULL"
    " DO NOTHING RETURNING id"
)
_SAVE_TICKETS = (
    f"UPDATE {m.SCHEMA}.tickets AS t SET "
    + ", ".join(
        f"{name} = {_from_v(name)}" for name, _ in _TICKET_TYPES if name not in ("id", "tenant_id")
    )
    + f" FROM {_TICKET_ROWS} WHERE t.tenant_id = v.tenant_id AND t.id = v.id"
)
# The lateral subquery is open_ticket_for_series's, run once per pair (in pair order, so
# concurrent batches take the row locks in one order).
_OPEN_FOR_SERIES = text(
    "SELECT p.series_key AS for_series, "
    + ", ".join(f"t.{c.name}" for c in m.tickets.c)
    + " FROM unnest(CAST(:tenants AS uuid[]), CAST(:keys AS text[])) AS p(tenant_id, series_key)"
    f" CROSS JOIN LATERAL (SELECT * FROM {m.SCHEMA}.tickets AS o"
    " WHERE o.tenant_id = p.tenant_id AND o.linked_series_keys @> ARRAY[p.series_key]"
    " AND o.closed_at IS NULL ORDER BY o.created_at DESC LIMIT 1 FOR UPDATE) AS t"
).columns(sql_column("for_series", Text), *m.tickets.c)


def _array_text(values: Sequence[str]) -> str:
    """``values`` as a PostgreSQL array literal (every element quoted and escaped)."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


def _batch_params(tickets: Sequence[Ticket]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {name: [] for name, _ in _TICKET_TYPES}
    for ticket in tickets:
        for name, _ in _TICKET_TYPES:
            params[name].append(getattr(ticket, name))
    for name in _TICKET_ENUMS:
        params[name] = [int(v) for v in params[name]]
    for name in _TICKET_ARRAY_COLUMNS:
        params[name] = [_array_text(v) for v in params[name]]
    return params


_SETTINGS_OF_TENANTS = (
    f"SELECT {select_list(m.settings)} FROM {m.SCHEMA}.tenant_settings "
    "WHERE tenant_id = ANY(%(tenants)b::uuid[])"
)
_TOMBSTONES_OF_SERIES = (
    "SELECT tenant_id::text AS tenant_id, series_key, reset_at, reset_sequence "
    f"FROM {m.SCHEMA}.reset_tombstones "
    "WHERE tenant_id = ANY(%(tenants)b::uuid[]) AND series_key = ANY(%(keys)b::text[])"
)
_OPEN_TICKETS_OF_KEYS = (
    f"SELECT {select_list(m.tickets)} FROM {m.SCHEMA}.tickets"
    " WHERE tenant_id = ANY(%(tenants)b::uuid[])"
    " AND dedup_key = ANY(%(keys)b::text[]) AND closed_at IS NULL"
    " ORDER BY dedup_key FOR UPDATE"
)
Query = tuple[str, Mapping[str, Any]]


def _lock_query(keys: Sequence[tuple[str, str]]) -> Query:
    return _LOCK_MANY, {"keys": [f"tickets:{tenant_id}:{key}" for tenant_id, key in keys]}


def _pairs_params(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    # Keys and series keys begin with their tenant id, so tenants x keys selects the pairs.
    pairs = list(pairs)
    return {"tenants": sorted({t for t, _ in pairs}), "keys": sorted({k for _, k in pairs})}


def _settings_of(
    tenants: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> dict[str, TenantSettings]:
    found = {t: TenantSettings() for t in tenants}
    for row in rows:
        found[row["tenant_id"]] = _settings(row)
    return found


def _tombstones_of(
    series: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], Tombstone]:
    wanted = set(series)
    return {
        (row["tenant_id"], row["series_key"]): Tombstone(row["reset_at"], row["reset_sequence"])
        for row in rows
        if (row["tenant_id"], row["series_key"]) in wanted
    }


def _open_tickets_of(
    keys: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Ticket]:
    wanted = set(keys)
    found: dict[str, Ticket] = {}
    for ticket in (_ticket_from(dict(row)) for row in rows):
        if ticket.dedup_key is not None and (ticket.tenant_id, ticket.dedup_key) in wanted:
            found[ticket.dedup_key] = ticket
    return found


async def lock_many(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> None:
    """:func:`lock` for each ``(tenant_id, key)``, taken one after another in the given order."""
    if keys:
        await fetch_together(session, schema=m.SCHEMA, queries=[_lock_query(keys)])


async def get_settings_many(
    session: AsyncSession, tenant_ids: Iterable[str]
) -> dict[str, TenantSettings]:
    """:func:`get_settings` of each of ``tenant_ids`` (all bound), in one query."""
    tenants = sorted(set(tenant_ids))
    query = (_SETTINGS_OF_TENANTS, {"tenants": tenants})
    (rows,) = await fetch_together(session, schema=m.SCHEMA, queries=[query])
    return _settings_of(tenants, rows)


async def open_tickets_for_keys(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[str, Ticket]:
    """The open tickets holding any ``(tenant_id, dedup_key)``, locked in key order, by key."""
    if not keys:
        return {}
    query = (_OPEN_TICKETS_OF_KEYS, _pairs_params(keys))
    (rows,) = await fetch_together(session, schema=m.SCHEMA, queries=[query])
    return _open_tickets_of(keys, rows)


async def tombstones_for(
    session: AsyncSession, series: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Tombstone]:
    """The latest resets of each ``(tenant_id, series_key)`` that has one."""
    if not series:
        return {}
    query = (_TOMBSTONES_OF_SERIES, _pairs_params(series))
    (rows,) = await fetch_together(session, schema=m.SCHEMA, queries=[query])
    return _tombstones_of(series, rows)


@dataclass(frozen=True, slots=True)
class BatchState:
    """What an alert batch reads before it decides, with its keys locked."""

    settings: dict[str, TenantSettings]
    tombstones: dict[tuple[str, str], Tombstone]
    open_tickets: dict[str, Ticket]


async def lock_and_read_batch(
    session: AsyncSession, keys: Sequence[tuple[str, str]], series: Sequence[tuple[str, str]]
) -> BatchState:
    """:func:`lock_many` of ``keys``, then :func:`get_settings_many` of their tenants,
    :func:`tombstones_for` of ``series`` and :func:`open_tickets_for_keys` of ``keys``:
    the same locks and answers in one round trip (the reads run after the locks)."""
    tenants = sorted({t for t, _ in keys})
    _, setting_rows, stone_rows, ticket_rows = await fetch_together(
        session,
        schema=m.SCHEMA,
        queries=[
            _lock_query(keys),
            (_SETTINGS_OF_TENANTS, {"tenants": tenants}),
            (_TOMBSTONES_OF_SERIES, _pairs_params(series)),
            (_OPEN_TICKETS_OF_KEYS, _pairs_params(keys)),
        ],
    )
    return BatchState(
        _settings_of(tenants, setting_rows),
        _tombstones_of(series, stone_rows),
        _open_tickets_of(keys, ticket_rows),
    )


async def save_tickets(session: AsyncSession, tickets: Sequence[Ticket]) -> None:
    """:func:`save_ticket` for each of ``tickets``, in one statement (of several versions
    of one ticket the last is written)."""
    if not tickets:
        return
    latest = list({(t.tenant_id, t.id): t for t in tickets}.values())
    async with raw_cursor(session, schema=m.SCHEMA, statement=_SAVE_TICKETS) as cursor:
        await cursor.execute(_SAVE_TICKETS, _batch_params(latest))


async def open_tickets_for_series_many(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Ticket]:
    """:func:`open_ticket_for_series` for each ``(tenant_id, series_key)`` (tenants bound),
    in one query: the newest open ticket linked to each series that has one, locked."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    rows = await session.execute(
        _OPEN_FOR_SERIES,
        {"tenants": [t for t, _ in wanted], "keys": [k for _, k in wanted]},
    )
    return {(str(r.tenant_id), r.for_series): _ticket(r) for r in rows.all()}


async def add_history_many(
    session: AsyncSession, entries: Sequence[tuple[str, HistoryEntry]]
) -> None:
    """:func:`add_history` for each ``(tenant_id, entry)``, in order, in one statement."""
    if not entries:
        return
    params: dict[str, list[Any]] = {
        k: []
        for k in (
            "id",
            "tenant_id",
            "ticket_id",
            "kind",
            "cause",
            "actor",
            "changes",
            "detail",
            "created_at",
        )
    }
    for tenant_id, entry in entries:
        params["id"].append(entry.id)
        params["tenant_id"].append(tenant_id)
        params["ticket_id"].append(entry.ticket_id)
        params["kind"].append(int(entry.kind))
        params["cause"].append(int(entry.cause))
        params["actor"].append(entry.actor)
        params["changes"].append(
            Jsonb(
                [
                    {"field_path": c.field_path, "before": c.before, "after": c.after}
                    for c in entry.changes
                ]
            )
        )
        params["detail"].append(entry.detail)
        params["created_at"].append(entry.created_at)
    async with raw_cursor(session, schema=m.SCHEMA, statement=_INSERT_HISTORY) as cursor:
        await cursor.execute(_INSERT_HISTORY, params)


async def add_comments_many(session: AsyncSession, comments: Sequence[tuple[str, Comment]]) -> None:
    """:func:`add_comment` for each ``(tenant_id, comment)``, in order, in one statement."""
    if not comments:
        return
    params: dict[str, list[Any]] = {
        k: []
        for k in (
            "id",
            "tenant_id",
            "ticket_id",
            "body",
            "visibility",
            "author_kind",
            "author",
            "created_at",
        )
    }
    for tenant_id, comment in comments:
        params["id"].append(comment.id)
        params["tenant_id"].append(tenant_id)
        params["ticket_id"].append(comment.ticket_id)
        params["body"].append(comment.body)
        params["visibility"].append(int(comment.visibility))
        params["author_kind"].append(int(comment.author_kind))
        params["author"].append(comment.author)
        params["created_at"].append(comment.created_at)
    async with raw_cursor(session, schema=m.SCHEMA, statement=_INSERT_COMMENTS) as cursor:
        await cursor.execute(_INSERT_COMMENTS, params)


_CLEAR_TRIGGERS_MANY = delete(m.trigger_log).where(
    m.trigger_log.c.tenant_id == any_(bindparam("tenants", type_=ARRAY(UUID(as_uuid=False)))),
    m.trigger_log.c.dedup_key == any_(bindparam("keys", type_=ARRAY(Text))),
)


async def clear_triggers_many(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> None:
    """:func:`clear_triggers` (all of them) for each ``(tenant_id, dedup_key)``, at once.

    Dedup keys begin with their tenant id, so tenants x keys selects exactly these pairs.
    """
    if keys:
        await session.execute(
            _CLEAR_TRIGGERS_MANY,
            {"tenants": sorted({t for t, _ in keys}), "keys": sorted({k for _, k in keys})},
        )
