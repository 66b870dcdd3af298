"""Queries on clocks: a ticket's SLA, breached targets, a ticket's clock audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.sla.domain.ticket import AuditEntry, BreachFilter, BreachView, ClockRecord, TicketView
from services.sla.errors import TicketSlaNotFound
from services.sla.service.base import UseCases
from services.sla.store import audit as audit_log
from services.sla.store import clocks, tickets
from triage.runtime import is_uuid


class ClockQueries(UseCases):
    """Read-only views of tickets' clocks."""

    async def ticket_sla(
        self, *, tenant_id: str, ticket_id: str
    ) -> tuple[TicketView, list[ClockRecord], datetime]:
        """A ticket's projection and clocks, and the instant to report them at."""
        number = ticket_id.removeprefix("#")
        async with self._db.transaction(tenant_id) as session:
            if is_uuid(ticket_id):
                view = await tickets.get_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id)
            elif number.isdigit():
                view = await tickets.get_ticket_by_number(
                    session, tenant_id=tenant_id, number=int(number)
                )
            else:
                view = None
            if view is None:
                raise TicketSlaNotFound(f"ticket {ticket_id!r} has no SLA")
            return view, await clocks.get_clocks(session, view=view), self._time.now()

    async def ticket_slas(
        self, *, tenant_id: str, ticket_ids: Sequence[str]
    ) -> tuple[list[tuple[TicketView, list[ClockRecord]]], datetime]:
        """The projections and clocks of those of ``ticket_ids`` that have an SLA, in the
        order asked (unknown ids and other tenants' tickets are left out), and the instant."""
        keys = [(tenant_id, t) for t in dict.fromkeys(ticket_ids) if is_uuid(t)]
        async with self._db.transaction(tenant_id) as session:
            views = await tickets.tickets_of_tenant(
                session, tenant_id=tenant_id, ticket_ids=[t for _, t in keys]
            )
            found = await clocks.clocks_by_ticket(session, views=views)
            now = self._time.now()
        return [(views[k], found[k]) for k in keys if k in views], now

    async def breaches(
        self,
        *,
        tenant_id: str,
        filters: BreachFilter,
        after: tuple[datetime, str, str] | None,
        limit: int,
    ) -> list[BreachView]:
        """Breached targets, newest first."""
        async with self._db.transaction(tenant_id) as session:
            return await clocks.list_breaches(
                session, tenant_id=tenant_id, filters=filters, after=after, limit=limit
            )

    async def audit(
        self, *, tenant_id: str, ticket_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, AuditEntry]]:
        """A ticket's clock audit log, oldest first."""
        if not is_uuid(ticket_id):
            raise TicketSlaNotFound(f"ticket {ticket_id!r} has no SLA")
        async with self._db.transaction(tenant_id) as session:
            if await tickets.get_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id) is None:
                raise TicketSlaNotFound(f"ticket {ticket_id!r} has no SLA")
            return await audit_log.list_audit(
                session, tenant_id=tenant_id, ticket_id=ticket_id, after_seq=after_seq, limit=limit
            )
