"""Recording an attempt: the delivery's new status, the channel's breaker, the event.

A result counts only while the delivery is still ``sending`` under the job's lease, so a
stale worker's late answer changes nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.breaker import BreakerState, CircuitBreaker, counts_against_channel
from services.notify.domain.model import AttemptResult, ErrorClass, NotificationMessage, Severity
from services.notify.domain.notifiable import Notifiable
from services.notify.domain.policy import CHANNEL_FAILING, EventFacts
from services.notify.domain.records import DeliveryRow
from services.notify.domain.retry import next_attempt_delay, should_give_up
from services.notify.events import delivered_envelope, failed_envelope
from services.notify.service.common import Clock
from services.notify.service.jobs import Job, WorkerOptions, breaker_of
from services.notify.service.planning import create_deliveries
from services.notify.store import channel_state as states
from services.notify.store import deliveries as store
from services.notify.store.attempts import insert_attempt
from services.notify.store.deferred import release_deferred
from triage.runtime import Database, Outbox, after_commit

_FAILING_NAMESPACE = uuid.UUID("6f1d3c52-8a7e-4f0b-9d67-3c1a5e2b7f40")


def error_class_of(result: AttemptResult) -> str | None:
    """The stored error class; a plain 4xx rejection is ``rejected`` rather than config."""
    if result.ok or result.error_class is None:
        return None
    code = result.status_code or 0
    if result.error_class is ErrorClass.INVALID_CONFIG and 400 <= code < 500:
        return "rejected"
    return result.error_class.value


class Outcomes:
    """Records what a send returned, in one transaction of the delivery's tenant."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        rng: random.Random,
        options: WorkerOptions,
        wake: Callable[[], None],
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.rng = rng
        self.options = options
        self.wake = wake

    async def record(
        self, job: Job, result: AttemptResult, started_at: datetime, latency: float
    ) -> None:
        """Store the attempt, move the delivery on, update the breaker, stage the event."""
        now = self.clock()
        error_class = error_class_of(result)
        async with self.db.transaction(job.tenant_id) as session:
            leased = await store.lock_if_leased(
                session, delivery_id=job.delivery_id, lease_token=job.lease_token
            )
            if not leased:
                return
            attempt = await insert_attempt(
                session,
                delivery_id=job.delivery_id,
                tenant_id=job.tenant_id,
                number=job.number,
                started_at=started_at,
                latency_seconds=latency,
                success=result.ok,
                error_class=error_class,
                error_message=(result.error or "")[:2000] or None,
                response_code=result.status_code,
                provider_request_id=result.provider_request_id,
                retry_after_seconds=result.retry_after,
            )
            state = await states.get_state(session, channel_id=job.channel_id, for_update=True)
            before = breaker_of(state) if state else CircuitBreaker()
            policy = self.options.breaker
            dead = False
            fresh: DeliveryRow
            if result.ok:
                after = before.record_success()
                if before.state is not BreakerState.CLOSED:
                    await release_deferred(session, channel_id=job.channel_id, now=now)
                    after_commit(session, self.wake)
                fresh = await store.mark_delivered(session, job.delivery_id, now=now)
            else:
                after = (
                    before.record_failure(now, policy) if counts_against_channel(result) else before
                )
                reason = ""
                if result.permanent:
                    dead = True
                    reason = f"permanent failure ({error_class}): {result.error or ''}"
                elif should_give_up(job.age_from, now, self.options.max_age):
                    dead = True
                    reason = f"gave up after {self.options.max_age}: {result.error or ''}"
                if dead:
                    fresh = await store.mark_dead(
                        session, job.delivery_id, reason=reason[:1000], now=now
                    )
                else:
                    delay = next_attempt_delay(
                        job.number - 1,
                        base=self.options.backoff_base_seconds,
                        cap=self.options.backoff_cap_seconds,
                        retry_after=result.retry_after,
                        rng=self.rng,
                        now=now,
                    )
                    fresh = await store.mark_failed(
                        session, job.delivery_id, retry_at=now + timedelta(seconds=delay), now=now
                    )
            if state is not None:
                await states.save_outcome(
                    session,
                    channel_id=job.channel_id,
                    breaker_state=after.state.value,
                    consecutive_failures=after.consecutive_failures,
                    opened_at=after.opened_at,
                    probe_started_at=after.probe_started_at,
                    ok=result.ok,
                    now=now,
                )
            if result.ok:
                envelope = delivered_envelope(job.tenant_id, fresh, [attempt])
            else:
                envelope = failed_envelope(
                    job.tenant_id, fresh, [attempt], permanent=dead, error_class=error_class
                )
            await self.outbox.add(session, envelope)
            opened = after.state is BreakerState.OPEN and before.state is not BreakerState.OPEN
            if opened or dead:
                await self._channel_failing(
                    session, job, result, now, opened=opened, opened_at=after.opened_at
                )
            if not result.ok:
                after_commit(session, self.wake)

    async def _channel_failing(
        self,
        session: AsyncSession,
        job: Job,
        result: AttemptResult,
        now: datetime,
        *,
        opened: bool,
        opened_at: datetime | None,
    ) -> None:
        seed = f"{job.channel_id}:open:{opened_at}" if opened else f"{job.delivery_id}:dead"
        what = "its circuit opened" if opened else "a delivery died"
        message = NotificationMessage(
            event_id=str(uuid.uuid5(_FAILING_NAMESPACE, seed)),
            event_type=CHANNEL_FAILING,
            tenant_id=job.tenant_id,
            occurred_at=now,
            severity=int(Severity.HIGH),
            title=f"Notification channel {job.channel_name!r} is failing: {what}",
            body=result.error or "The channel did not accept a notification.",
            fields={"Channel": job.channel_name, "Error": error_class_of(result) or ""},
        )
        facts = EventFacts(
            event_type=CHANNEL_FAILING,
            severity=int(Severity.HIGH),
            exclude_channel_ids=frozenset({job.channel_id}),
        )
        if await create_deliveries(
            session, tenant_id=job.tenant_id, item=Notifiable(message, facts), now=now
        ):
            after_commit(session, self.wake)
