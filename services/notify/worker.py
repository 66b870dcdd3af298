"""Delivery workers: claim due deliveries across replicas, send, record, retry, clean up."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.clients import Sender
from services.notify.convert import (
    ChannelSettings,
    delivery_to_proto,
    error_class_enum,
    message_from_json,
    message_to_json,
    sender_inputs,
    settings_of,
)
from services.notify.domain.breaker import (
    BreakerState,
    CircuitBreaker,
    counts_against_channel,
)
from services.notify.domain.digest import DIGEST_EVENT_TYPE, flush_held
from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.model import (
    AttemptResult,
    ChannelKind,
    ErrorClass,
    NotificationMessage,
    Severity,
)
from services.notify.domain.policy import CHANNEL_FAILING, EventFacts, quiet_release
from services.notify.domain.ratelimit import TokenBucket
from services.notify.domain.retry import next_attempt_delay, should_give_up
from services.notify.events import delivered_envelope, failed_envelope
from services.notify.models import attempts, channel_state, channels, deliveries, tenant_zones
from services.notify.planning import Notifiable, create_deliveries
from services.notify.service import Clock, spec_of, utcnow
from services.notify.workers.pool import SendPool
from services.notify.workers.recovery import release_deferred
from services.notify.workers.types import ClaimedChannel as _Channel
from services.notify.workers.types import Job as Job
from services.notify.workers.types import WorkerOptions as WorkerOptions
from triage.runtime import Database, Outbox, SecretBox, after_commit, wait_event

log = logging.getLogger(__name__)

DUE = ("queued", "failed")
TERMINAL = ("delivered", "skipped", "dead")
_FAILING_NAMESPACE = uuid.UUID("6f1d3c52-8a7e-4f0b-9d67-3c1a5e2b7f40")


class DeliveryWorker:
    """Claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and sends them.

    The claim is a short transaction that marks rows ``sending`` under a lease (a fencing
    token): sends happen outside any transaction, and a result is recorded only while the
    lease is still this worker's, so a stale worker's late answer changes nothing.
    """

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        box: SecretBox,
        senders: Mapping[ChannelKind, Sender],
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        options: WorkerOptions | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.box = box
        self.senders = senders
        self.clock = clock
        self.rng = rng or random.Random()
        self.options = options or WorkerOptions()
        self._wake = asyncio.Event()
        self._last_cleanup = 0.0
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
                    await self._maybe_cleanup()
                    wait = await self._until_next_due()
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

    def _not_busy(self) -> Any:
        busy = sorted(self.pool.saturated())
        return deliveries.c.channel_id.not_in(busy) if busy else true()

    async def _until_next_due(self) -> float:
        async with self.db.system_transaction() as session:
            next_due = (
                await session.execute(
                    select(func.min(deliveries.c.next_attempt_at)).where(
                        deliveries.c.status.in_(DUE), self._not_busy()
                    )
                )
            ).scalar_one_or_none()
        idle = self.options.idle_poll_seconds
        if next_due is None:
            return idle
        seconds = float((next_due - self.clock()).total_seconds())
        return min(idle, max(0.01, seconds))

    # -- claim --------------------------------------------------------------------------

    async def _claim(self, limit: int) -> tuple[int, list[Job]]:
        now = self.clock()
        d = deliveries.c
        async with self.db.system_transaction() as session:
            rows = (
                await session.execute(
                    select(*deliveries.c)
                    .where(
                        (d.status.in_(DUE) & (d.next_attempt_at <= now))
                        | ((d.status == "sending") & (d.lease_until <= now)),
                        self._not_busy(),
                    )
                    .order_by(d.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0, []
            chans = await self._lock_channels(session, {str(r.channel_id) for r in rows})
            jobs: list[Job] = []
            done: set[str] = set()
            planned: Counter[str] = Counter()
            for row in rows:
                # A channel at its send limit keeps its rows due for a later pass.
                if str(row.id) in done or not self.pool.room(
                    str(row.channel_id), planned[str(row.channel_id)]
                ):
                    continue
                job = await self._decide(
                    session, row._mapping, chans.get(str(row.channel_id)), now, done
                )
                if job is not None:
                    jobs.append(job)
                    planned[job.channel_id] += 1
            for chan in chans.values():
                if chan.changed:
                    await session.execute(
                        update(channel_state)
                        .where(channel_state.c.channel_id == chan.row["id"])
                        .values(**chan.state)
                    )
        return len(rows), jobs

    async def _lock_channels(self, session: AsyncSession, ids: set[str]) -> dict[str, _Channel]:
        states = {
            str(r.channel_id): dict(r._mapping)
            for r in (
                await session.execute(
                    select(*channel_state.c)
                    .where(channel_state.c.channel_id.in_(sorted(ids)))
                    .order_by(channel_state.c.channel_id)
                    .with_for_update()
                )
            ).all()
        }
        rows = (await session.execute(select(*channels.c).where(channels.c.id.in_(ids)))).all()
        zones = {
            str(r.tenant_id): str(r.time_zone)
            for r in (
                await session.execute(
                    select(tenant_zones.c.tenant_id, tenant_zones.c.time_zone).where(
                        tenant_zones.c.tenant_id.in_({str(r.tenant_id) for r in rows})
                    )
                )
            ).all()
        }
        out: dict[str, _Channel] = {}
        for r in rows:
            state = states.get(str(r.id))
            if state is None:
                continue
            state.pop("channel_id", None)
            state.pop("tenant_id", None)
            out[str(r.id)] = _Channel(
                r._mapping,
                settings_of(
                    r.quiet_hours,
                    r.rate_limit,
                    r.digest,
                    default_zone=zones.get(str(r.tenant_id), "UTC"),
                ),
                state,
            )
        return out

    async def _set(self, session: AsyncSession, delivery_id: Any, **values: Any) -> None:
        await session.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(**values, updated_at=self.clock())
        )

    async def _decide(
        self,
        session: AsyncSession,
        row: Any,
        chan: _Channel | None,
        now: datetime,
        done: set[str],
    ) -> Job | None:
        waiting = "queued" if row["status"] == "sending" else row["status"]
        if chan is None or chan.row["disabled"]:
            reason = "channel deleted" if chan is None else "channel disabled"
            await self._set(
                session,
                row["id"],
                status="skipped",
                dead_reason=reason,
                next_attempt_at=None,
                lease_token=None,
                lease_until=None,
            )
            return None
        if should_give_up(row["age_from"], now, self.options.max_age):
            await self._set(
                session,
                row["id"],
                status="dead",
                next_attempt_at=None,
                lease_token=None,
                lease_until=None,
                dead_reason=f"gave up after {self.options.max_age} without success",
            )
            return None
        settings = chan.settings
        release = quiet_release(
            settings.quiet_windows,
            now,
            critical=row["critical"],
            hold_critical=settings.hold_critical,
        )
        if release is not None:
            await self._set(
                session,
                row["id"],
                status=waiting,
                hold_until=release,
                next_attempt_at=release,
                lease_token=None,
                lease_until=None,
            )
            return None
        if row["digest_hold"]:
            return await self._flush_digest(session, row, chan, now, done)
        if not row["critical"] and row["event_type"] != DIGEST_EVENT_TYPE:
            if settings.digest_min > 1 and await self._in_burst(session, row, settings, now):
                flush_at = chan.state.get("digest_flush_at")
                if flush_at is None or flush_at <= now:
                    flush_at = now + settings.digest_window
                    chan.state["digest_flush_at"] = flush_at
                    chan.changed = True
                await self._hold_for_digest(session, row, flush_at)
                return None
            if settings.rate_max > 0:
                bucket = self._bucket(chan, settings, now)
                allowed, bucket = bucket.take(now)
                chan.state["tokens"], chan.state["tokens_at"] = bucket.tokens, bucket.updated_at
                chan.changed = True
                if not allowed:
                    await self._hold_for_digest(session, row, bucket.available_at(now))
                    return None
        if not self._acquire(chan, row, now):
            retry_at = self._breaker(chan).retry_at(self.options.breaker) or (
                now + self.options.breaker.cool_down
            )
            await self._set(
                session,
                row["id"],
                status=waiting,
                next_attempt_at=retry_at,
                lease_token=None,
                lease_until=None,
            )
            return None
        return await self._lease(session, row, chan, now)

    def _bucket(self, chan: _Channel, settings: ChannelSettings, now: datetime) -> TokenBucket:
        fresh = TokenBucket.per_period(settings.rate_max, settings.rate_period, now)
        tokens, at = chan.state.get("tokens"), chan.state.get("tokens_at")
        if tokens is None or at is None:
            return fresh
        return TokenBucket(fresh.capacity, fresh.refill_per_second, min(tokens, fresh.capacity), at)

    async def _in_burst(
        self, session: AsyncSession, row: Any, settings: ChannelSettings, now: datetime
    ) -> bool:
        d = deliveries.c
        recent = (
            await session.execute(
                select(func.count())
                .select_from(deliveries)
                .where(
                    d.channel_id == row["channel_id"],
                    d.created_at > now - settings.digest_window,
                    d.event_type != DIGEST_EVENT_TYPE,
                    d.critical.is_(False),
                )
            )
        ).scalar_one()
        return int(recent) >= settings.digest_min

    async def _hold_for_digest(self, session: AsyncSession, row: Any, until: datetime) -> None:
        await self._set(
            session,
            row["id"],
            status="queued",
            digest_hold=True,
            next_attempt_at=until,
            lease_token=None,
            lease_until=None,
        )

    async def _flush_digest(
        self, session: AsyncSession, row: Any, chan: _Channel, now: datetime, done: set[str]
    ) -> Job | None:
        d = deliveries.c
        group = [
            r._mapping
            for r in (
                await session.execute(
                    select(*deliveries.c)
                    .where(
                        d.channel_id == row["channel_id"],
                        d.digest_hold.is_(True),
                        d.status.in_(("queued", "sending")),
                    )
                    .order_by(d.created_at)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        ]
        if all(str(g["id"]) != str(row["id"]) for g in group):
            group.append(row)
        done.update(str(g["id"]) for g in group)
        messages = [message_from_json(g["message"]) for g in group]
        summary = flush_held(messages)
        if len(group) == 1:
            await self._set(session, row["id"], digest_hold=False)
            return await self._lease(session, {**row, "digest_hold": False}, chan, now)
        digest_id = str(uuid.uuid4())
        tenant_id = str(row["tenant_id"])
        digest_row = {
            "id": digest_id,
            "tenant_id": tenant_id,
            "channel_id": row["channel_id"],
            "channel_kind": row["channel_kind"],
            "destination": row["destination"],
            "event_id": summary.event_id,
            "event_type": DIGEST_EVENT_TYPE,
            "idempotency_key": idempotency_key(
                summary.event_id, tenant_id, str(row["channel_id"]), row["destination"]
            ),
            "subject": summary.title[:500],
            "message": message_to_json(summary),
            "critical": False,
            "status": "queued",
            "next_attempt_at": now,
            "age_from": now,
            "created_at": now,
            "updated_at": now,
        }
        await session.execute(deliveries.insert().values(**digest_row))
        await session.execute(
            update(deliveries)
            .where(d.id.in_([g["id"] for g in group]))
            .values(
                status="skipped",
                digest_hold=False,
                digest_delivery_id=digest_id,
                dead_reason=f"folded into digest {digest_id}",
                next_attempt_at=None,
                lease_token=None,
                lease_until=None,
                updated_at=now,
            )
        )
        chan.state["digest_flush_at"] = None
        chan.changed = True
        if not self._acquire(chan, digest_row, now):
            return None
        return await self._lease(session, {**digest_row, "attempt_count": 0}, chan, now)

    def _breaker(self, chan: _Channel) -> CircuitBreaker:
        s = chan.state
        return CircuitBreaker(
            state=BreakerState(s.get("breaker_state") or "closed"),
            consecutive_failures=int(s.get("consecutive_failures") or 0),
            opened_at=s.get("opened_at"),
            probe_started_at=s.get("probe_started_at"),
        )

    def _store_breaker(self, state: dict[str, Any], breaker: CircuitBreaker) -> None:
        state.update(
            breaker_state=breaker.state.value,
            consecutive_failures=breaker.consecutive_failures,
            opened_at=breaker.opened_at,
            probe_started_at=breaker.probe_started_at,
        )

    def _acquire(self, chan: _Channel, row: Any, now: datetime) -> bool:
        allowed, breaker = self._breaker(chan).acquire(now, self.options.breaker)
        if allowed:
            self._store_breaker(chan.state, breaker)
            chan.changed = True
        return allowed

    async def _lease(self, session: AsyncSession, row: Any, chan: _Channel, now: datetime) -> Job:
        token = str(uuid.uuid4())
        number = int(row["attempt_count"]) + 1
        await self._set(
            session,
            row["id"],
            status="sending",
            lease_token=token,
            lease_until=now + self.options.lease,
            attempt_count=number,
            hold_until=None,
        )
        spec = spec_of(self.box, chan.row)
        config, secrets = sender_inputs(spec)
        return Job(
            delivery_id=str(row["id"]),
            tenant_id=str(row["tenant_id"]),
            lease_token=token,
            number=number,
            channel_id=str(row["channel_id"]),
            channel_name=spec.display_name,
            kind=spec.kind,
            config=config,
            secrets=secrets,
            message=message_from_json(row["message"]),
            key=row["idempotency_key"],
            age_from=row["age_from"],
        )

    # -- send and record ----------------------------------------------------------------

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
            await self._record(job, result, started_at, latency)
        except Exception:
            log.exception("recording an attempt failed", extra={"delivery_id": job.delivery_id})

    async def _record(
        self, job: Job, result: AttemptResult, started_at: datetime, latency: float
    ) -> None:
        now = self.clock()
        d = deliveries.c
        error_class = _error_class(result)
        async with self.db.transaction(job.tenant_id) as session:
            mine = (
                await session.execute(
                    select(d.id)
                    .where(
                        d.id == job.delivery_id,
                        d.status == "sending",
                        d.lease_token == job.lease_token,
                    )
                    .with_for_update()
                )
            ).first()
            if mine is None:
                return
            attempt = (
                await session.execute(
                    attempts.insert()
                    .values(
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
                    .returning(*attempts.c)
                )
            ).one()
            state_row = (
                await session.execute(
                    select(*channel_state.c)
                    .where(channel_state.c.channel_id == job.channel_id)
                    .with_for_update()
                )
            ).first()
            state = dict(state_row._mapping) if state_row else None
            before = (
                self._breaker(_Channel(None, _NO_SETTINGS, state)) if state else CircuitBreaker()
            )
            policy = self.options.breaker
            values: dict[str, Any] = {"lease_token": None, "lease_until": None, "updated_at": now}
            dead = False
            if result.ok:
                values.update(
                    status="delivered", delivered_at=now, next_attempt_at=None, dead_reason=None
                )
                after = before.record_success()
                if before.state is not BreakerState.CLOSED:
                    await release_deferred(session, channel_id=job.channel_id, now=now)
                    after_commit(session, self.wake)
            else:
                after = (
                    before.record_failure(now, policy) if counts_against_channel(result) else before
                )
                if result.permanent:
                    dead = True
                    reason = f"permanent failure ({error_class}): {result.error or ''}"
                elif should_give_up(job.age_from, now, self.options.max_age):
                    dead = True
                    reason = f"gave up after {self.options.max_age}: {result.error or ''}"
                if dead:
                    values.update(status="dead", next_attempt_at=None, dead_reason=reason[:1000])
                else:
                    delay = next_attempt_delay(
                        job.number - 1,
                        base=self.options.backoff_base_seconds,
                        cap=self.options.backoff_cap_seconds,
                        retry_after=result.retry_after,
                        rng=self.rng,
                        now=now,
                    )
                    values.update(status="failed", next_attempt_at=now + timedelta(seconds=delay))
            fresh = (
                await session.execute(
                    update(deliveries)
                    .where(d.id == job.delivery_id)
                    .values(**values)
                    .returning(*deliveries.c)
                )
            ).one()
            if state is not None:
                outcome = {"last_success_at": now} if result.ok else {"last_failure_at": now}
                stored: dict[str, Any] = {}
                self._store_breaker(stored, after)
                await session.execute(
                    update(channel_state)
                    .where(channel_state.c.channel_id == job.channel_id)
                    .values(**stored, **outcome)
                )
            proto = delivery_to_proto(fresh._mapping, [attempt._mapping])
            if result.ok:
                envelope = delivered_envelope(job.tenant_id, proto)
            else:
                envelope = failed_envelope(
                    job.tenant_id, proto, permanent=dead, error_class=error_class_enum(error_class)
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
            fields={"Channel": job.channel_name, "Error": _error_class(result) or ""},
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

    # -- retention ----------------------------------------------------------------------

    async def _maybe_cleanup(self) -> None:
        if time.monotonic() - self._last_cleanup < self.options.cleanup_interval_seconds:
            return
        self._last_cleanup = time.monotonic()
        await self.cleanup()

    async def cleanup(self) -> int:
        """Delete finished deliveries (and their attempts) older than the retention."""
        cutoff = self.clock() - self.options.retention
        async with self.db.system_transaction() as session:
            result = await session.execute(
                delete(deliveries).where(
                    deliveries.c.created_at < cutoff, deliveries.c.status.in_(TERMINAL)
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)


_NO_SETTINGS = ChannelSettings((), False, 0, timedelta(0), timedelta(0), 0)


def _error_class(result: AttemptResult) -> str | None:
    """The stored error class; a plain 4xx rejection is ``rejected`` rather than config."""
    if result.ok or result.error_class is None:
        return None
    code = result.status_code or 0
    if result.error_class is ErrorClass.INVALID_CONFIG and 400 <= code < 500:
        return "rejected"
    return result.error_class.value
