"""Reads: tickets, their comments, time entries and history, the tenant's settings."""

from __future__ import annotations

from datetime import datetime

from services.tickets.domain.tickets import (
    Comment,
    HistoryEntry,
    Ticket,
    TicketFilter,
    TimeEntry,
    Visibility,
)
from services.tickets.service.base import Page, ServiceBase, TicketRef
from services.tickets.store import activity as activity_store
from services.tickets.store import tickets as ticket_store
from triage.runtime import (
    page_of,
)


class QueryUseCases(ServiceBase):
    """Queries, each in its own read transaction."""

    async def get_ticket(self, *, tenant_id: str, ref: TicketRef) -> Ticket:
        """One ticket by id or number."""
        async with self._db.transaction(tenant_id) as session:
            return await self._find(session, tenant_id, ref)

    async def list_tickets(
        self,
        *,
        tenant_id: str,
        where: TicketFilter,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Page[Ticket]:
        """A page of tickets, newest first."""
        async with self._db.transaction(tenant_id) as session:
            rows = await ticket_store.list_tickets(
                session, tenant_id=tenant_id, where=where, after=after, limit=limit + 1
            )
        items, more = page_of(rows, limit)
        last = items[-1] if more else None
        position = None if last is None else (last.created_at, last.id)
        return Page(items, position)

    async def list_comments(
        self,
        *,
        tenant_id: str,
        ref: TicketRef,
        visibility: Visibility,
        after_seq: int,
        limit: int,
    ) -> Page[Comment]:
        """A page of a ticket's comments, oldest first."""
        async with self._db.transaction(tenant_id) as session:
            ticket = await self._find(session, tenant_id, ref)
            rows = await activity_store.list_comments(
                session,
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                visibility=visibility,
                after_seq=after_seq,
                limit=limit + 1,
            )
        items, more = page_of(rows, limit)
        return Page(items, items[-1].seq if more else None)

    async def list_time_entries(
        self, *, tenant_id: str, ref: TicketRef, after_seq: int, limit: int
    ) -> Page[TimeEntry]:
        """A page of a ticket's time entries, oldest first."""
        async with self._db.transaction(tenant_id) as session:
            ticket = await self._find(session, tenant_id, ref)
            rows = await activity_store.list_time_entries(
                session,
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                after_seq=after_seq,
                limit=limit + 1,
            )
        items, more = page_of(rows, limit)
        return Page(items, items[-1].seq if more else None)

    async def list_history(
        self, *, tenant_id: str, ref: TicketRef, after_seq: int, limit: int
    ) -> Page[HistoryEntry]:
        """A page of a ticket's history, oldest first."""
        async with self._db.transaction(tenant_id) as session:
            ticket = await self._find(session, tenant_id, ref)
            rows = await activity_store.list_history(
                session,
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                after_seq=after_seq,
                limit=limit + 1,
            )
        items, more = page_of(rows, limit)
        return Page(items, items[-1].seq if more else None)
