"""Queries over the ``tickets`` schema; every function takes the caller's session, none commits."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
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
    row = (
        await session.execute(select(m.settings).where(m.settings.c.tenant_id == tenant_id))
    ).first()
    if row is None:
        return TenantSettings()
    return TenantSettings(
        closed_statuses=frozenset(Status(s) for s in row.closed_statuses),
        pausing_statuses=frozenset(Status(s) for s in row.pausing_statuses),
        occurrence_comment_interval=timedelta(seconds=row.occurrence_comment_interval_seconds),
        reopen_within=timedelta(seconds=row.reopen_within_seconds),
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


async def next_number(session: AsyncSession, *, tenant_id: str) -> int:
    """The tenant's next human ticket number (from its counter row, locked until commit)."""
    c = m.counters
    result = await session.execute(
        insert(c)
        .values(tenant_id=tenant_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[c.c.tenant_id], set_={"last_number": c.c.last_number + 1}
        )
        .returning(c.c.last_number)
    )
    return int(result.scalar_one())


# --- tickets -----------------------------------------------------------------------------


def _ticket(row: Row[Any]) -> Ticket:
    data = dict(row._mapping)
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


async def insert_ticket(session: AsyncSession, ticket: Ticket) -> bool:
    """Insert ``ticket``; False when an open ticket already holds its dedup key."""
    t = m.tickets
    result = await session.execute(
        insert(t)
        .values(**_values(ticket))
        .on_conflict_do_nothing(
            index_elements=[t.c.tenant_id, t.c.dedup_key],
            index_where=text("closed_at IS NULL AND dedup_key IS NOT NULL"),
        )
        .returning(t.c.id)
    )
    return result.first() is not None


async def save_ticket(session: AsyncSession, ticket: Ticket) -> None:
    """Write every field of ``ticket`` back to its row."""
    t = m.tickets
    values = _values(ticket)
    values.pop("id")
    values.pop("tenant_id")
    await session.execute(
        t.update().where(t.c.tenant_id == ticket.tenant_id, t.c.id == ticket.id).values(**values)
    )


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
    await session.execute(
        m.history.insert().values(
            id=entry.id,
            tenant_id=tenant_id,
            ticket_id=entry.ticket_id,
            kind=int(entry.kind),
            cause=int(entry.cause),
            actor=entry.actor,
            changes=[
                {"field_path": c.field_path, "before": c.before, "after": c.after}
                for c in entry.changes
            ],
            detail=entry.detail,
            created_at=entry.created_at,
        )
    )


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
    s = m.tombstones
    statement = insert(s).values(
        tenant_id=tenant_id,
        series_key=series_key,
        reset_at=reset_at,
        reset_sequence=reset_sequence,
        alert_id=alert_id,
    )
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[s.c.tenant_id, s.c.series_key],
            set_={
                "reset_at": excluded.reset_at,
                "reset_sequence": excluded.reset_sequence,
                "alert_id": excluded.alert_id,
            },
            where=or_(
                excluded.reset_at > s.c.reset_at,
                and_(
                    excluded.reset_at == s.c.reset_at,
                    excluded.reset_sequence > s.c.reset_sequence,
                ),
            ),
        )
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
) -> Sequence[datetime]:
    """Logged trigger times of ``dedup_key`` at or after ``since``, oldest first."""
    g = m.trigger_log
    rows = await session.execute(
        select(g.c.occurred_at)
        .where(g.c.tenant_id == tenant_id, g.c.dedup_key == dedup_key, g.c.occurred_at >= since)
        .order_by(g.c.occurred_at)
    )
    return list(rows.scalars())


async def clear_triggers(
    session: AsyncSession, *, tenant_id: str, dedup_key: str, before: datetime | None = None
) -> None:
    """Forget logged triggers of ``dedup_key`` (all of them, or those before ``before``)."""
    g = m.trigger_log
    statement = delete(g).where(g.c.tenant_id == tenant_id, g.c.dedup_key == dedup_key)
    if before is not None:
        statement = statement.where(g.c.occurred_at < before)
    await session.execute(statement)
