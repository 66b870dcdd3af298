"""What every use case of the sla service shares: the database, the outbox, the source of
"now", and writing what a decision produced (clocks, timers, audit, events) at the end of
its transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.sla import events
from services.sla.domain.effects import Effects
from services.sla.service.time import TimeSource
from services.sla.store import audit, clocks, timers
from triage.runtime import Database, Outbox, References, after_commit, inject_headers, new_id


class UseCases:
    """The state the use cases share; :class:`~services.sla.service.SlaService` composes them."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        time: TimeSource,
        late_after: timedelta = timedelta(seconds=30),
        references: References | None = None,
    ) -> None:
        self._db = db
        self._references = references
        self._outbox = outbox
        self._time = time
        self._late_after = late_after
        self._timer_listeners: list[Callable[[datetime], None]] = []

    @property
    def time(self) -> TimeSource:
        """The service's source of "now"."""
        return self._time

    def on_timer(self, listener: Callable[[datetime], None]) -> None:
        """Call ``listener(due)`` after each commit that schedules a timer due at ``due``."""
        self._timer_listeners.append(listener)

    @staticmethod
    def _effects() -> Effects:
        return Effects(new_id=new_id)

    async def _store(
        self,
        session: AsyncSession,
        effects: Effects,
        trace_headers: Sequence[dict[str, str] | None] | None = None,
    ) -> None:
        """Write ``effects`` in the session's transaction; each notice's envelope carries
        its trace headers (None: the current context)."""
        for tenant_id, ticket_id, kind in dict.fromkeys(effects.stopped):
            await clocks.delete_clock(session, tenant_id=tenant_id, ticket_id=ticket_id, kind=kind)
        await clocks.save_clocks(session, records=effects.clocks)
        await timers.set_timers(session, records=effects.clocks)
        await audit.insert_audit(session, entries=effects.audit)
        envelopes = [events.envelope(n) for n in effects.notices]
        if trace_headers is not None and any(h is not None for h in trace_headers):
            current = inject_headers()
            await self._outbox.add(
                session,
                *envelopes,
                trace_headers=[current if h is None else h for h in trace_headers],
            )
        else:
            await self._outbox.add(session, *envelopes)
        dues = effects.timer_dues()
        if dues and self._timer_listeners:
            earliest = min(dues)
            for listener in self._timer_listeners:
                after_commit(session, _bind(listener, earliest))


def _bind(listener: Callable[[datetime], None], due: datetime) -> Callable[[], None]:
    def call() -> None:
        listener(due)

    return call
