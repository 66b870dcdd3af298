"""Work logged on a ticket: comments and time entries."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from services.tickets import events as ev
from services.tickets.domain.tickets import (
    AuthorKind,
    Comment,
    HistoryKind,
    Ticket,
    TimeEntry,
    Visibility,
)
from services.tickets.service.base import Actor, M, TicketRef
from services.tickets.service.changes import ChangePaths
from services.tickets.store import activity as activity_store
from services.tickets.store import tickets as ticket_store
from services.tickets.store.requests import requests
from triage.runtime import (
    IdempotentReply,
    new_id,
)


class CommentUseCases(ChangePaths):
    """Comments and time entries, one transaction each."""

    async def add_comment(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        body: str,
        visibility: Visibility,
        author_kind: AuthorKind,
        reply: IdempotentReply[tuple[Comment, Ticket], M],
    ) -> M:
        """Add a comment; a person's comment is a human touch."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            ticket, comment = await self._comment(
                session, ticket, body, visibility, author_kind, actor.subject
            )
            return await reply.answer(session, requests, tenant_id, (comment, ticket))

    async def add_time_entry(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        duration: timedelta,
        start_at: datetime | None,
        note: str,
        billable: bool,
        reply: IdempotentReply[tuple[TimeEntry, Ticket], M],
    ) -> M:
        """Log time on a ticket (a human touch)."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            now = self._clock()
            entry = await activity_store.add_time_entry(
                session,
                tenant_id=tenant_id,
                entry=TimeEntry(
                    id=new_id(),
                    ticket_id=ticket.id,
                    duration=duration,
                    start_at=start_at,
                    note=note,
                    billable=billable,
                    author=actor.subject,
                    created_at=now,
                ),
            )
            after = replace(
                ticket,
                human_touched=ticket.human_touched or actor.is_human,
                version=ticket.version + 1,
                updated_at=now,
            )
            await ticket_store.save_ticket(session, after)
            await self._history(
                session,
                after,
                HistoryKind.TIME_LOGGED,
                actor.cause,
                actor.subject,
                detail=f"{entry.id} {int(duration.total_seconds())}s",
            )
            if after.human_touched != ticket.human_touched:
                await self._outbox.add(
                    session,
                    ev.updated(
                        ticket,
                        after,
                        paths=["human_touched"],
                        cause=actor.cause,
                        actor=actor.subject,
                    ),
                )
            return await reply.answer(session, requests, tenant_id, (entry, after))
