"""Claiming due deliveries across replicas: what goes out now, what waits, what ends.

The claim is a short transaction that marks rows ``sending`` under a lease (a fencing
token): sends happen outside any transaction, and a result is recorded only while the
lease is still the claimer's, so a stale worker's late answer changes nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.channel import ChannelSettings
from services.notify.domain.digest import DIGEST_EVENT_TYPE, flush_held
from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.messages import message_from_json, message_to_json
from services.notify.domain.policy import quiet_release
from services.notify.domain.ratelimit import TokenBucket
from services.notify.domain.records import ChannelRow, DeliveryRow
from services.notify.domain.retry import should_give_up
from services.notify.domain.sending import sender_inputs
from services.notify.service.common import Clock, spec_of
from services.notify.service.jobs import ClaimedChannel, Job, WorkerOptions, breaker_of
from services.notify.store import channel_state as states
from services.notify.store import deliveries as store
from services.notify.store.channels import channels_for_claim
from services.notify.store.zones import zones_of
from triage.runtime import Database, SecretBox

#: Whether a channel may start one more send beyond the ones already planned.
Room = Callable[[str, int], bool]
#: A stored channel's delivery settings, quiet hours without a zone in the given one.
ReadSettings = Callable[[ChannelRow, str], ChannelSettings]


class Claims:
    """Claims due deliveries and decides each: send now, hold, defer, skip or give up."""

    def __init__(
        self,
        *,
        db: Database,
        box: SecretBox,
        clock: Clock,
        options: WorkerOptions,
        settings: ReadSettings,
    ) -> None:
        self.db = db
        self.settings = settings
        self.box = box
        self.clock = clock
        self.options = options
        #: The suspended tenants, whose deliveries wait (set by the wiring).
        self.paused: Callable[[], Collection[str]] = frozenset

    async def seconds_until_due(self, busy: Collection[str]) -> float:
        """How long the worker may sleep: until the next due delivery, at most a poll."""
        async with self.db.system_transaction() as session:
            next_due = await store.next_due(session, busy=busy, paused=self.paused())
        idle = self.options.idle_poll_seconds
        if next_due is None:
            return idle
        seconds = float((next_due - self.clock()).total_seconds())
        return min(idle, max(0.01, seconds))

    async def claim(
        self, limit: int, *, busy: Collection[str], room: Room
    ) -> tuple[int, list[Job]]:
        """Lock up to ``limit`` due deliveries and lease the ones to send now; returns how
        many rows were claimed and the jobs."""
        now = self.clock()
        async with self.db.system_transaction() as session:
            rows = await store.claim_due(
                session, now=now, limit=limit, busy=busy, paused=self.paused()
            )
            if not rows:
                return 0, []
            chans = await self._lock_channels(session, {r.channel_id for r in rows})
            jobs: list[Job] = []
            done: set[str] = set()
            planned: Counter[str] = Counter()
            for row in rows:
                # A channel at its send limit keeps its rows due for a later pass.
                if row.id in done or not room(row.channel_id, planned[row.channel_id]):
                    continue
                job = await self._decide(session, row, chans.get(row.channel_id), now, done)
                if job is not None:
                    jobs.append(job)
                    planned[job.channel_id] += 1
            for chan in chans.values():
                if chan.changed:
                    await states.save_state(session, chan.state)
        return len(rows), jobs

    async def _lock_channels(
        self, session: AsyncSession, ids: set[str]
    ) -> dict[str, ClaimedChannel]:
        locked = await states.lock_states(session, channel_ids=ids)
        rows = await channels_for_claim(session, channel_ids=ids)
        zones = await zones_of(session, tenant_ids={r.tenant_id for r in rows})
        out: dict[str, ClaimedChannel] = {}
        for r in rows:
            state = locked.get(r.id)
            if state is None:
                continue
            settings = self.settings(r, zones.get(r.tenant_id, "UTC"))
            out[r.id] = ClaimedChannel(r, settings, state)
        return out

    async def _decide(
        self,
        session: AsyncSession,
        row: DeliveryRow,
        chan: ClaimedChannel | None,
        now: datetime,
        done: set[str],
    ) -> Job | None:
        waiting = "queued" if row.status == "sending" else row.status
        stamp = self.clock
        if chan is None or chan.row.disabled:
            reason = "channel deleted" if chan is None else "channel disabled"
            await store.settle(session, row.id, status="skipped", dead_reason=reason, now=stamp())
            return None
        if should_give_up(row.age_from, now, self.options.max_age):
            reason = f"gave up after {self.options.max_age} without success"
            await store.settle(session, row.id, status="dead", dead_reason=reason, now=stamp())
            return None
        settings = chan.settings
        release = quiet_release(
            settings.quiet_windows, now, critical=row.critical, hold_critical=settings.hold_critical
        )
        if release is not None:
            await store.defer(
                session, row.id, status=waiting, until=release, hold=True, now=stamp()
            )
            return None
        if row.digest_hold:
            return await self._flush_digest(session, row, chan, now, done)
        if not row.critical and row.event_type != DIGEST_EVENT_TYPE:
            if settings.digest_min > 1 and await self._in_burst(session, row, settings, now):
                flush_at = chan.state.digest_flush_at
                if flush_at is None or flush_at <= now:
                    flush_at = now + settings.digest_window
                    chan.state = replace(chan.state, digest_flush_at=flush_at)
                    chan.changed = True
                await store.hold_for_digest(session, row.id, until=flush_at, now=stamp())
                return None
            if settings.rate_max > 0:
                bucket = self._bucket(chan, settings, now)
                allowed, bucket = bucket.take(now)
                chan.state = replace(chan.state, tokens=bucket.tokens, tokens_at=bucket.updated_at)
                chan.changed = True
                if not allowed:
                    until = bucket.available_at(now)
                    await store.hold_for_digest(session, row.id, until=until, now=stamp())
                    return None
        if not self._acquire(chan, now):
            retry_at = breaker_of(chan.state).retry_at(self.options.breaker) or (
                now + self.options.breaker.cool_down
            )
            await store.defer(session, row.id, status=waiting, until=retry_at, now=stamp())
            return None
        return await self._lease(session, row, chan, now)

    def _bucket(
        self, chan: ClaimedChannel, settings: ChannelSettings, now: datetime
    ) -> TokenBucket:
        fresh = TokenBucket.per_period(settings.rate_max, settings.rate_period, now)
        tokens, at = chan.state.tokens, chan.state.tokens_at
        if tokens is None or at is None:
            return fresh
        return TokenBucket(fresh.capacity, fresh.refill_per_second, min(tokens, fresh.capacity), at)

    async def _in_burst(
        self, session: AsyncSession, row: DeliveryRow, settings: ChannelSettings, now: datetime
    ) -> bool:
        since = now - settings.digest_window
        recent = await store.recent_count(session, channel_id=row.channel_id, since=since)
        return recent >= settings.digest_min

    async def _flush_digest(
        self,
        session: AsyncSession,
        row: DeliveryRow,
        chan: ClaimedChannel,
        now: datetime,
        done: set[str],
    ) -> Job | None:
        group = await store.lock_digest_group(session, channel_id=row.channel_id)
        if all(g.id != row.id for g in group):
            group.append(row)
        done.update(g.id for g in group)
        messages = [message_from_json(g.message) for g in group]
        summary = flush_held(messages)
        if len(group) == 1:
            await store.release_digest_hold(session, row.id, now=self.clock())
            return await self._lease(session, replace(row, digest_hold=False), chan, now)
        digest_id = str(uuid.uuid4())
        tenant_id = row.tenant_id
        digest = await store.insert_delivery(
            session,
            {
                "id": digest_id,
                "tenant_id": tenant_id,
                "channel_id": row.channel_id,
                "channel_kind": row.channel_kind,
                "destination": row.destination,
                "event_id": summary.event_id,
                "event_type": DIGEST_EVENT_TYPE,
                "idempotency_key": idempotency_key(
                    summary.event_id, tenant_id, row.channel_id, row.destination
                ),
                "subject": summary.title[:500],
                "message": message_to_json(summary),
                "critical": False,
                "status": "queued",
                "next_attempt_at": now,
                "age_from": now,
                "created_at": now,
                "updated_at": now,
            },
        )
        await store.fold_into_digest(
            session, delivery_ids=[g.id for g in group], digest_id=digest_id, now=now
        )
        chan.state = replace(chan.state, digest_flush_at=None)
        chan.changed = True
        if not self._acquire(chan, now):
            return None
        return await self._lease(session, digest, chan, now)

    def _acquire(self, chan: ClaimedChannel, now: datetime) -> bool:
        allowed, breaker = breaker_of(chan.state).acquire(now, self.options.breaker)
        if allowed:
            chan.state = replace(
                chan.state,
                breaker_state=breaker.state.value,
                consecutive_failures=breaker.consecutive_failures,
                opened_at=breaker.opened_at,
                probe_started_at=breaker.probe_started_at,
            )
            chan.changed = True
        return allowed

    async def _lease(
        self, session: AsyncSession, row: DeliveryRow, chan: ClaimedChannel, now: datetime
    ) -> Job:
        token = str(uuid.uuid4())
        number = int(row.attempt_count) + 1
        await store.lease(
            session,
            row.id,
            token=token,
            until=now + self.options.lease,
            attempt=number,
            now=self.clock(),
        )
        spec = spec_of(self.box, chan.row)
        config, secrets = sender_inputs(spec)
        return Job(
            delivery_id=row.id,
            tenant_id=row.tenant_id,
            lease_token=token,
            number=number,
            channel_id=row.channel_id,
            channel_name=spec.display_name,
            kind=spec.kind,
            config=config,
            secrets=secrets,
            message=message_from_json(row.message),
            key=row.idempotency_key,
            age_from=row.age_from,
        )
