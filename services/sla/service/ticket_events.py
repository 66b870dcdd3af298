"""Ticket events in: the service loads a batch's state, the domain decides what each event
does to the clocks (:mod:`services.sla.domain.batch`), the service stores the outcome, all
in the consumer's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.batch import calendars_needed, decide_batch
from services.sla.domain.calendar_spec import CalendarSpec
from services.sla.domain.ticket import TicketChange
from services.sla.service.base import UseCases
from services.sla.store import calendars, tenants, tickets
from services.sla.store.batch import lock_and_read_batch
from triage.runtime import pipelined

IncomingChange = tuple[str, TicketChange, dict[str, str] | None]
"""(tenant, change, trace headers of the event or None for the current context)."""


class ConcurrentStart(RuntimeError):
    """Another transaction inserted a ticket this batch meant to start; retry the events."""


class TicketEvents(UseCases):
    """What ticket and tenant events do to the sla service's state."""

    async def on_tenant_zone(self, session: AsyncSession, tenant_id: str, zone: str) -> None:
        """Remember the tenant's zone for its default calendar."""
        await tenants.save_tenant_zone(session, tenant_id=tenant_id, zone=zone)

    async def on_ticket_change(
        self, session: AsyncSession, tenant_id: str, change: TicketChange
    ) -> None:
        """Move a ticket's clocks for one ticket event (inside the consumer's transaction)."""
        await self.on_ticket_changes(session, [(tenant_id, change, None)])

    async def on_ticket_changes(
        self, session: AsyncSession, changes: Sequence[IncomingChange]
    ) -> None:
        """Move clocks for a batch of ticket events, in order, inside one transaction.

        The batch's tickets and clocks are read (and locked, in key order) in two statements,
        policies and zones for new tickets once per tenant, and every write at the end in
        one statement per table; a change that moves nothing writes nothing but the ticket's
        facts. Each event's outgoing events carry its own trace headers (None: current).
        """
        if not changes:
            return
        keys = sorted({(tenant_id, change.ticket.ticket_id) for tenant_id, change, _ in changes})
        state = await lock_and_read_batch(session, keys=keys)
        pairs = [(tenant_id, change) for tenant_id, change, _ in changes]
        found: dict[tuple[str, str], CalendarSpec | None] = {}
        for tenant_id, calendar_id in calendars_needed(pairs, state.views, state.policies):
            stored = await calendars.get_calendar(
                session, tenant_id=tenant_id, calendar_id=calendar_id
            )
            found[(tenant_id, calendar_id)] = stored.value if stored else None
        effects = self._effects()
        outcome = decide_batch(
            pairs,
            views=state.views,
            clocks=state.clocks,
            zones=state.zones,
            policies=state.policies,
            calendars=found,
            now=self._time.now(),
            effects=effects,
        )
        headers = [
            trace_headers
            for (_, _, trace_headers), count in zip(
                changes, outcome.notices_per_change, strict=True
            )
            for _ in range(count)
        ]
        # Every write of the batch travels pipelined: two round trips (the started
        # tickets' ids, the outbox ids) instead of one per statement.
        async with pipelined(session):
            inserted = await tickets.insert_tickets(session, views=outcome.created)
            if len(inserted) != len(outcome.created):
                raise ConcurrentStart("another handler started one of these tickets first")
            await tickets.save_tickets(session, views=outcome.changed)
            await self._store(session, effects, headers)
