"""The delivery loop: claim due deliveries across replicas, send each, record the outcome."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping

from services.notify.clients import Sender
from services.notify.domain.model import AttemptResult, ChannelKind, ErrorClass
from services.notify.service.claims import Claims, ReadSettings
from services.notify.service.common import Clock, utcnow
from services.notify.service.jobs import Job, WorkerOptions
from services.notify.service.outcomes import Outcomes
from services.notify.workers.pool import SendPool
from triage.runtime import Database, Outbox, SecretBox, wait_event

log = logging.getLogger(__name__)


class DeliveryWorker:
    """Claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and sends them, each send its
    own task, outside any transaction (see :mod:`services.notify.service.claims`)."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        box: SecretBox,
        senders: Mapping[ChannelKind, Sender],
        settings: ReadSettings,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        options: WorkerOptions | None = None,
    ) -> None:
        self.senders = senders
        self.clock = clock
        self.options = options or WorkerOptions()
        self._wake = asyncio.Event()
        self.claims = Claims(db=db, box=box, clock=clock, options=self.options, settings=settings)
        self.outcomes = Outcomes(
            db=db,
            outbox=outbox,
            clock=clock,
            rng=rng or random.Random(),
            options=self.options,
            wake=self.wake,
        )
        self.pool = SendPool(
            max_in_flight=self.options.max_in_flight,
            per_channel=self.options.per_channel_in_flight,
            on_done=self.wake,
        )

    def wake(self) -> None:
        """Look for due deliveries now (called after a commit that queued some)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and start sends until cancelled; sleep until woken (a send ended, a commit
        queued work), the next due time, or a poll. Sends never hold up claiming."""
        try:
            while True:
                try:
                    await self.pump()
                    wait = await self.claims.seconds_until_due(self.pool.saturated())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("delivery worker pass failed; retrying")
                    wait = self.options.idle_poll_seconds
                await wait_event(self._wake, wait)
                self._wake.clear()
        finally:
            await self.pool.cancel()

    async def pump(self) -> int:
        """Claim due deliveries while the pool has room, each send its own task; returns
        how many sends started."""
        started = 0
        while (room := min(self.pool.free(), self.options.batch_size)) > 0:
            claimed, jobs = await self._claim(room)
            for job in jobs:
                self.pool.spawn(job.channel_id, self._attempt(job))
            started += len(jobs)
            if claimed < room:
                break
        return started

    async def run_once(self) -> int:
        """Claim one batch, send it, record the outcomes; returns how many rows were claimed."""
        claimed, jobs = await self._claim(max(1, min(self.pool.free(), self.options.batch_size)))
        for job in jobs:
            self.pool.spawn(job.channel_id, self._attempt(job))
        await self.pool.drain()
        return claimed

    async def _claim(self, limit: int) -> tuple[int, list[Job]]:
        return await self.claims.claim(limit, busy=self.pool.saturated(), room=self.pool.room)

    async def _attempt(self, job: Job) -> None:
        started_at = self.clock()
        started = time.perf_counter()
        try:
            result = await self.senders[job.kind].send(
                job.message, job.config, job.secrets, idempotency_key=job.key
            )
        except Exception as exc:
            log.exception("sender raised", extra={"delivery_id": job.delivery_id})
            result = AttemptResult.failure(ErrorClass.CONNECTION, f"{type(exc).__name__}: {exc}")
        latency = result.latency or (time.perf_counter() - started)
        try:
            await self.outcomes.record(job, result, started_at, latency)
        except Exception:
            log.exception("recording an attempt failed", extra={"delivery_id": job.delivery_id})
