"""What happens on a ticket: comments, time entries and the history of changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain.tickets import (
    AuthorKind,
    Cause,
    Comment,
    FieldChange,
    HistoryEntry,
    HistoryKind,
    TimeEntry,
    Visibility,
)
from triage.runtime import raw_cursor


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
