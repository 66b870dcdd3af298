"""Firing due timers: claim them across tenants, fire each due threshold exactly once."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from services.sla.domain.codec import clock_from_json
from services.sla.domain.firing import fire_thresholds
from services.sla.domain.ticket import ClockRecord
from services.sla.service.base import UseCases
from services.sla.store import tickets, timers


@dataclass(frozen=True, slots=True)
class FireResult:
    """What one scheduler pass did."""

    claimed: int
    fired: int
    lateness: tuple[float, ...] = ()
    """Seconds between each fired threshold's instant and its firing."""


class TimerFiring(UseCases):
    """The use cases of the timer worker."""

    async def fire_due(self, *, limit: int = 500, paused: Collection[str] = ()) -> FireResult:
        """Claim due timers across tenants and fire each due threshold exactly once.

        The timer rows and their clocks are locked with SKIP LOCKED in this transaction, and
        a timer whose fence differs from its clock's is stale and only rescheduled, so two
        replicas (or a late worker) never fire one threshold twice. Timers of ``paused``
        (suspended) tenants are left due: they fire, marked late, once the tenant resumes.
        """
        now = self._time.now()
        effects = self._effects()
        lateness: list[float] = []
        async with self._db.system_transaction() as session:
            due = await timers.claim_due_timers(session, now=now, limit=limit, paused=paused)
            if not due:
                return FireResult(0, 0)
            views = await tickets.tickets_by_id(
                session, keys=list({(t.tenant_id, t.ticket_id) for t in due})
            )
            for timer in due:
                view = views.get((timer.tenant_id, timer.ticket_id))
                if view is None:
                    await timers.delete_timer_if(
                        session,
                        tenant_id=timer.tenant_id,
                        ticket_id=timer.ticket_id,
                        kind=timer.kind,
                        fence=timer.fence,
                    )
                    continue
                record = ClockRecord(
                    ticket_id=timer.ticket_id,
                    clock=clock_from_json(timer.clock_data, view.snapshot.business),
                    fence=timer.clock_fence,
                    breached_at=timer.breached_at,
                    breach_due_at=timer.breach_due_at,
                    met_at=timer.met_at,
                )
                lateness.extend(
                    fire_thresholds(
                        view,
                        record,
                        current=timer.fence == timer.clock_fence,
                        now=now,
                        late_after=self._late_after,
                        effects=effects,
                    )
                )
            await self._store(session, effects)
        return FireResult(len(due), len(lateness), tuple(lateness))

    async def next_due(self, paused: Collection[str] = ()) -> datetime | None:
        """The earliest due instant of any timer, across tenants not ``paused``."""
        async with self._db.system_transaction() as session:
            return await timers.earliest_timer(session, paused)
