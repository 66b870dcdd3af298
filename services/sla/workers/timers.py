"""Durable SLA timers: fire each threshold on its instant, once, from any replica.

Each running clock has one row in ``sla.timers`` holding its next threshold instant and
the clock's fencing token. A scheduler pass claims due rows (and their clocks) with
``FOR UPDATE SKIP LOCKED`` in one transaction, fires, and writes the next instant, so
replicas share the work and nothing fires twice. Between passes the scheduler sleeps until
the earliest due instant; a commit in this process that schedules a sooner timer wakes it
early, and a short idle re-check picks up sooner timers written by other replicas.
Missed thresholds (no replica ran at their instant) fire once on the next pass, marked late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import datetime

from services.sla.service import SlaService
from services.sla.service.time import TimeSource
from services.sla.service.timers import FireResult

log = logging.getLogger(__name__)


class Scheduler:
    """Sleeps until the next due timer and fires it through :meth:`SlaService.fire_due`."""

    def __init__(
        self,
        service: SlaService,
        *,
        time: TimeSource | None = None,
        batch_size: int = 500,
        idle_recheck_seconds: float = 0.5,
        paused: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._service = service
        self._time = time or service.time
        self._batch = batch_size
        self._idle = idle_recheck_seconds
        #: The suspended tenants, whose timers wait, and the deleted ones, whose timers must
        #: not fire (the runtime's access list: :meth:`AccessList.barred_now`).
        self._paused = paused
        self._wake = asyncio.Event()
        self._sleeping_until: datetime | None = None
        self.fired = 0
        self.lateness: list[float] = []
        self.record_lateness = False
        service.on_timer(self.notify)

    def notify(self, due: datetime) -> None:
        """A timer due at ``due`` was committed: wake up if that is sooner than planned."""
        if self._sleeping_until is None or due < self._sleeping_until:
            self._wake.set()

    def wake(self) -> None:
        """Re-check now (after a test moved its clock, for example)."""
        self._wake.set()

    async def run_once(self) -> FireResult:
        """Fire every timer due now (in batches); returns the totals."""
        claimed = fired = 0
        lateness: list[float] = []
        while True:
            result = await self._service.fire_due(limit=self._batch, paused=self._paused())
            claimed += result.claimed
            fired += result.fired
            lateness.extend(result.lateness)
            if result.claimed < self._batch:
                break
        self.fired += fired
        if self.record_lateness:
            self.lateness.extend(lateness)
        return FireResult(claimed, fired, tuple(lateness))

    async def run(self) -> None:
        """Fire due timers forever, sleeping until the next one (or a wake-up) in between."""
        while True:
            try:
                result = await self.run_once()
                self._wake.clear()
                nxt = await self._service.next_due(self._paused())
                if result.claimed == 0 and nxt is not None and nxt <= self._time.now():
                    # Due rows exist but a consumer holds their clocks: let it commit first.
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed; retrying")
                nxt = None
            self._sleeping_until = nxt
            try:
                await self._time.sleep_until(nxt, self._wake, self._idle)
            finally:
                self._sleeping_until = None
