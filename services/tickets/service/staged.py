"""Writes of the alert batch held in memory until flushed, and the batch's view of its
series' open tickets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.order import Logged
from services.tickets.domain.tickets import Comment, HistoryEntry, Ticket
from services.tickets.events import Envelope
from services.tickets.store import activity as activity_store
from services.tickets.store import alert_state as alert_store
from services.tickets.store import batches as batch_store
from services.tickets.store import series_log
from triage.runtime import (
    Outbox,
    inject_headers,
    pipelined,
)


class Staged:
    """Writes of the alert batch's occurrence path, held until :meth:`flush`."""

    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self._session = session
        self._outbox = outbox
        self.tickets: dict[str, Ticket] = {}
        #: Tickets opened in the batch, inserted (in their latest state) at flush.
        self.new: dict[str, Ticket] = {}
        self.history: list[tuple[str, HistoryEntry]] = []
        self.comments: list[tuple[str, Comment]] = []
        self.events: list[Envelope] = []
        self.headers: list[dict[str, str]] = []
        #: Ticket numbers allocated ahead for the tickets this batch will open, by tenant.
        self.numbers: dict[str, list[int]] = {}
        #: Dedup keys whose trigger log is cleared (after opening their ticket).
        self.cleared: dict[tuple[str, str], None] = {}
        #: Series log entries of the batch's alerts, by tenant.
        self.log: list[tuple[str, Logged]] = []
        #: The latest reset staged for each (tenant, series), for its tombstone.
        self.resets: dict[tuple[str, str], alert_store.Reset] = {}

    def save(self, ticket: Ticket) -> None:
        """Write ``ticket`` back at flush (its latest state only)."""
        if ticket.id in self.new:
            self.new[ticket.id] = ticket
        else:
            self.tickets[ticket.id] = ticket

    def tombstone(self, reset: alert_store.Reset) -> None:
        """Record ``reset`` in its series' tombstone at flush (the latest reset wins)."""
        key = (reset.tenant_id, reset.series_key)
        held = self.resets.get(key)
        if held is None or reset.position > held.position:
            self.resets[key] = reset

    def event(self, envelope: Envelope) -> None:
        """Stage ``envelope`` with the trace context current now (the alert's own)."""
        self.events.append(envelope)
        self.headers.append(inject_headers())

    async def flush(self) -> None:
        """Write everything staged, one statement per table, in the order it was staged.

        The statements travel pipelined: two round trips (the new tickets' count, the
        outbox ids) instead of one per table.
        """
        async with pipelined(self._session):
            await self._write()

    async def _write(self) -> None:
        if self.tickets:
            await batch_store.save_tickets(self._session, list(self.tickets.values()))
            self.tickets.clear()
        if self.new:
            # After the updates: a ticket closed in the batch gave up its key first.
            inserted = await batch_store.insert_tickets(self._session, list(self.new.values()))
            if inserted != len(self.new):
                # Unreachable while the batch holds its keys' locks.
                raise RuntimeError("an open ticket already holds the key of a new ticket")
            self.new.clear()
        if self.comments:
            await activity_store.add_comments_many(self._session, self.comments)
            self.comments = []
        if self.history:
            await activity_store.add_history_many(self._session, self.history)
            self.history = []
        if self.resets:
            await alert_store.put_tombstones(self._session, list(self.resets.values()))
            self.resets.clear()
        if self.cleared:
            await batch_store.clear_triggers_many(self._session, list(self.cleared))
            self.cleared.clear()
        if self.log:
            await series_log.add_many(self._session, self.log)
            self.log = []
        if self.events:
            await self._outbox.add(self._session, *self.events, trace_headers=self.headers)
            self.events, self.headers = [], []


class SeriesTickets:
    """The open tickets of a batch's reset series, read once and kept current in memory.

    Holds, for each (tenant, series) asked up front, the newest open ticket linked to it as
    the database had it (locked), and the latest version of every ticket the batch has
    written since. :meth:`find` answers only when that is enough to know what
    ``ticket_store.open_ticket_for_series`` would return now.
    """

    def __init__(
        self, asked: set[tuple[str, str]], newest: Mapping[tuple[str, str], Ticket]
    ) -> None:
        self._asked = asked
        self._newest = newest
        self._latest: dict[str, Ticket] = {}

    def note(self, ticket: Ticket | None) -> None:
        """Remember ``ticket`` as the batch left it (opened, changed, closed)."""
        if ticket is not None:
            self._latest[ticket.id] = ticket

    def find(self, tenant_id: str, series_key: str) -> tuple[bool, Ticket | None]:
        """(known, ticket): the newest open ticket linked to the series; not known when the
        database must be asked."""
        if (tenant_id, series_key) not in self._asked:
            return False, None
        candidates = [
            t
            for t in self._latest.values()
            if t.tenant_id == tenant_id and t.is_open and series_key in t.linked_series_keys
        ]
        newest = self._newest.get((tenant_id, series_key))
        if newest is not None:
            newest = self._latest.get(newest.id, newest)
            if not newest.is_open or series_key not in newest.linked_series_keys:
                # It no longer counts; the next newest at load time was never read.
                return False, None
            candidates.append(newest)
        if not candidates:
            return True, None
        return True, max(candidates, key=_created)


def _created(ticket: Ticket) -> datetime:
    return ticket.created_at or datetime.min.replace(tzinfo=UTC)
