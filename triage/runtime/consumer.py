"""The one batch consumer every service uses: partitioned, one reader per partition, fenced.

A consumer group (``durable``) reads the partitions of one stream that its replicas
share through PostgreSQL leases (:mod:`triage.runtime.leases`). Each replica reads only
the partitions it holds, through one JetStream consumer of its own that starts after the
position its leases recorded; the position advances in the same transaction as the
batch's effects, behind a fence, so a replica that lost a partition cannot commit, and
the next owner continues exactly where the last commit left off: every key's events are
applied once, in stream order, whatever the number of replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from triage.runtime.batching import ArrivalRate, decode, gather, is_transient
from triage.runtime.bus import Bus
from triage.runtime.consume_span import consume_span
from triage.runtime.db import Database
from triage.runtime.events import ReceivedEvent, partition_of
from triage.runtime.fence import BatchFence, Fenced, fenced
from triage.runtime.lease_keeper import keeper_for
from triage.runtime.leases import LEASE_TTL_SECONDS, Lease, PartitionLeases, Renewed
from triage.runtime.long_poll import PollWait, unless_set
from triage.runtime.metrics import CONSUMER_BATCH, CONSUMER_BATCH_SECONDS, EVENTS_CONSUMED
from triage.runtime.partition_filters import filter_config, reader_filters

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[ReceivedEvent]], Awaitable[None]]
#: The server never needs to redeliver to the reader (it retries in process, and a new
#: owner reads from the committed positions): a long ack wait keeps it from doing so.
ACK_WAIT_SECONDS = 600.0
#: Seconds without a pull after which the server drops a reader's JetStream consumer.
READER_INACTIVE_SECONDS = 10.0
#: How often a member renews its leases and rebalances (seconds): three renewals inside
#: the lease TTL. One statement a tick renews every group of a process (lease_keeper).
LEASE_TICK_SECONDS = 2.0


def member_id() -> str:
    """A name for this process in every consumer group it joins."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _reader_name(durable: str, member: str) -> str:
    """The JetStream consumer through which ``member`` reads for group ``durable``."""
    return f"{durable}-{member}".replace(".", "-")


def _stream_of(pattern: str) -> str:
    return f"TRIAGE_{pattern.split('.')[1].upper()}"


class BatchConsumer:
    """Reads the partitions this replica holds of one stream and hands batches to a handler.

    The handler commits its effects in a tenant transaction (``Database.transaction`` and
    friends); the runtime fences every such transaction opened while it runs, advancing the
    batch's positions in it. A batch that fails is retried one event at a time; an event
    that keeps failing for a reason of its own is dead-lettered after ``max_deliveries``
    tries, while a failure of the database itself is retried until it heals (the
    partition waits: order is kept). A large batch is split by partition into up to
    ``groups`` concurrent transactions.
    """

    def __init__(
        self,
        bus: Bus,
        db: Database,
        *,
        service: str,
        durable: str,
        filter_subjects: Sequence[str],
        handler: BatchHandler,
        batch_size: int = 256,
        max_deliveries: int = 10,
        fetch_timeout_seconds: float = 1.0,
        linger_seconds: float = 0.02,
        groups: int = 4,
        min_group_size: int = 64,
        member: str | None = None,
        lease_tick_seconds: float = LEASE_TICK_SECONDS,
        lease_ttl_seconds: float = LEASE_TTL_SECONDS,
        on_handover: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._bus = bus
        self._service = service
        self.durable = durable
        self._patterns = list(filter_subjects)
        self._stream = _stream_of(self._patterns[0])
        self._handler = handler
        self._batch_size = batch_size
        self._max_deliveries = max(1, max_deliveries)
        #: An idle reader's pull waits longer each time (a change or a stop ends it).
        self._wait = PollWait(fetch_timeout_seconds)
        self._linger = linger_seconds
        self._groups = max(1, groups)
        self._min_group = max(1, min_group_size)
        self._tick = lease_tick_seconds
        self.member = member or member_id()
        self.leases = PartitionLeases(
            db,
            consumer=durable,
            member=self.member,
            partitions=bus.partitions,
            ttl_seconds=lease_ttl_seconds,
        )
        self._partitions = bus.partitions
        self._db = db
        #: Run before partitions change hands (the runtime publishes the outbox).
        self.on_handover = on_handover
        self._arrivals = ArrivalRate()
        #: Partitions held (with the epoch they were taken under) and applied positions.
        self.held: dict[int, Lease] = {}
        self._positions: dict[int, int] = {}
        self._release: set[int] = set()
        self._reread = False
        self._restart = False
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._subscribed: frozenset[int] = frozenset()
        self._sub: Any = None
        self._consumer_name = _reader_name(durable, self.member)

    # --- life cycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Hold a fair share of the partitions and consume them until stopped."""
        await self.leases.seed(await self._legacy_floor())
        with contextlib.suppress(NotFoundError):
            # The shared durable of releases before partitions would hold the stream's
            # messages forever; this group's positions replace it.
            await self._bus.js.delete_consumer(self._stream, self.durable)
        await self._rebalance()
        keeper = keeper_for(self._db, self._tick)
        keeper.join(self)
        task = asyncio.current_task()
        try:
            while not self._stopping.is_set():
                if self._changed.is_set():
                    await self._resubscribe()
                if self._sub is None:
                    await self._wait_for_change()
                    continue
                # A change of partitions or a stop ends a long wait at once; the reader
                # then reads again from its positions (the cut pull may have lost one).
                cut, msgs = await unless_set(self._fetch_or_nothing(), self._changed)
                if task is not None and task.cancelling():
                    # nats-py waits with asyncio.wait_for, which on Python 3.11 can swallow
                    # a cancel that meets a message; nothing fetched is lost (positions).
                    raise asyncio.CancelledError
                self._restart = self._restart or cut
                if msgs:
                    await self.process(msgs)
                    # Acks everything up to it (AckPolicy.ALL): only a progress mark for
                    # operators and tests; positions in PostgreSQL are what count.
                    with contextlib.suppress(Exception):
                        await msgs[-1].ack()
        finally:
            await keeper.leave(self)
            await self._unsubscribe()

    async def _legacy_floor(self) -> int:
        """Where the group's durable of an earlier release had acked up to (0 if none):
        a new group starts there instead of replaying the stream."""
        try:
            info = await self._bus.js.consumer_info(self._stream, self.durable)
        except NotFoundError:
            return 0
        return int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0

    async def stop(self) -> None:
        """Graceful handover: stop fetching, let the batch in flight commit, then give
        every partition back at once (another replica takes it over within a tick)."""
        self._stopping.set()
        self._changed.set()  # ends a pull's wait

    def _held_positions(self, partitions: Iterable[int] | None = None) -> dict[int, int]:
        """How far each held partition (or each of ``partitions``) has been applied."""
        wanted = self.held if partitions is None else partitions
        return {p: self._positions.get(p, 0) for p in wanted}

    async def leave(self) -> None:
        """Release the partitions and the membership (after :meth:`run` has returned)."""
        positions = self._held_positions()
        self.held = {}
        with contextlib.suppress(Exception):
            await self.leases.leave(positions)

    async def _wait_for_change(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._tick):
                await self._changed.wait()

    def renewal_positions(self) -> dict[int, int] | None:
        """What the shared heartbeat records for this member; None once stopping (a
        stopping member renews nothing: it hands over or its leases run out)."""
        return None if self._stopping.is_set() else self._held_positions()

    async def on_renewed(self, renewed: Renewed) -> None:
        """Rebalance from what the shared heartbeat found."""
        await self._settle(renewed.held, renewed.share)

    async def _rebalance(self) -> None:
        """Renew this group alone (at start, after a fenced batch), then settle."""
        if self._stopping.is_set():
            return
        renewed, share = await self.leases.heartbeat(self._held_positions())
        await self._settle(renewed, share)

    async def _settle(self, renewed: dict[int, Lease], share: int) -> None:
        """Give back a surplus or take up to the fair share."""
        if self._stopping.is_set():
            return
        lost = [p for p in self.held if p not in renewed or renewed[p].epoch != self.held[p].epoch]
        mine = {p: lease for p, lease in renewed.items() if p not in self._release}
        if len(mine) > share:
            surplus = sorted(mine)[share:]
            self._release.update(surplus)
            for p in surplus:
                mine.pop(p)
        elif len(mine) < share and not self._release:
            mine.update(await self.leases.acquire(share - len(mine)))
        for p, lease in mine.items():
            if p not in self.held or self.held[p].epoch != lease.epoch:
                self._positions[p] = lease.position
        if lost or set(mine) != set(self.held) or self._release:
            if lost:
                log.warning("partitions taken over", extra={"consumer": self.durable, "lost": lost})
            self.held = mine
            self._changed.set()

    # --- subscription -------------------------------------------------------------------

    def _fenced(self) -> None:
        """A batch found a partition gone: learn which at once, and read every held
        partition again from its position (the batch's other events were not applied)."""
        self._reread = True
        self._changed.set()

    async def _resubscribe(self) -> None:
        self._changed.clear()
        if self._reread:
            await self._rebalance()
        reread, self._reread = self._reread or self._restart, False
        self._restart = False
        wanted = frozenset(self.held)
        unchanged = wanted == self._subscribed and self._sub is not None
        if unchanged and not self._release and not reread:
            return
        if wanted - self._subscribed:
            await self._reap_dead_readers()
        if self.on_handover is not None and (self._release or wanted - self._subscribed):
            # What this replica committed reaches the stream before a partition leaves
            # it; what a dead owner committed, before this replica applies the next event.
            await self.on_handover()
        if self._release:
            released = self._held_positions(self._release)
            self._release.clear()
            await self.leases.release(released)
        if wanted == self._subscribed and self._sub is not None and not reread:
            return
        await self._unsubscribe()
        if not wanted:
            return
        info = await self._bus.js.stream_info(self._stream)
        start = min(self._positions[p] for p in wanted)
        if start > info.state.last_seq:
            # The stream is younger than our positions (recreated after a loss): read it
            # from its start; the inbox drops what was applied before.
            log.warning(
                "stream restarted; reading it from the start", extra={"consumer": self.durable}
            )
            await self.leases.reset_positions(sorted(wanted), 0)
            for p in wanted:
                self._positions[p] = 0
            start = 0
        config = ConsumerConfig(
            name=self._consumer_name,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start + 1,
            ack_policy=AckPolicy.ALL,
            ack_wait=ACK_WAIT_SECONDS,
            **filter_config(reader_filters(self._patterns, wanted, self._partitions)),
            # A live reader pulls at least every fetch timeout; a dead one's consumer goes
            # after this (a reader that was only busy makes a new one from its positions).
            inactive_threshold=READER_INACTIVE_SECONDS,
            max_waiting=4,
        )
        await self._bus.js.add_consumer(self._stream, config)
        self._sub = await self._bus.js.pull_subscribe_bind(self._consumer_name, self._stream)
        self._subscribed = wanted

    async def _reap_dead_readers(self) -> None:
        """Delete the JetStream consumers of members whose heartbeat ran out (a killed
        replica's reader would otherwise linger with its filters and backlog)."""
        try:
            live = {_reader_name(self.durable, m) for m in await self.leases.live_members()}
            prefix = f"{self.durable}-"
            for info in await self._bus.js.consumers_info(self._stream):
                name = info.name or ""
                if name.startswith(prefix) and name not in live | {self._consumer_name}:
                    with contextlib.suppress(NotFoundError):
                        await self._bus.js.delete_consumer(self._stream, name)
        except Exception:
            log.warning("dead readers not reaped", exc_info=True, extra={"consumer": self.durable})

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        self._subscribed = frozenset()
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        with contextlib.suppress(NotFoundError, Exception):
            await self._bus.js.delete_consumer(self._stream, self._consumer_name)

    # --- fetching -----------------------------------------------------------------------

    async def _fetch_or_nothing(self) -> list[Msg]:
        try:
            return await self._fetch(self._sub)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("fetch failed", extra={"consumer": self.durable})
            self._changed.set()  # the JetStream consumer may be gone: make it again
            await asyncio.sleep(0.5)
            return []

    async def _fetch(self, sub: Any) -> list[Msg]:
        try:
            msgs = await gather(
                sub,
                batch_size=self._batch_size,
                first_timeout=self._wait.seconds,
                linger=self._linger,
                arrivals=self._arrivals,
            )
        except (TimeoutError, nats.errors.TimeoutError):
            self._wait.empty()
            raise
        self._wait.busy()
        return msgs

    # --- processing ---------------------------------------------------------------------

    async def process(self, msgs: Sequence[Msg]) -> None:
        """Decode, drop what is not ours or already applied, hand over by partition group."""
        started = time.perf_counter()
        try:
            batch: list[tuple[int, int, ReceivedEvent]] = []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                part = partition_of(msg.subject)
                if part not in self.held or seq <= self._positions.get(part, 0):
                    continue
                event = decode(msg)
                if event is None:
                    await self._dead_letter(msg.subject, msg.data, msg.headers, "undecodable")
                    self._positions[part] = seq
                    continue
                batch.append((part, seq, event))
            groups = self._split(batch)
            await asyncio.gather(*(self._process_group(g) for g in groups))
        finally:
            CONSUMER_BATCH.labels(self._service, self.durable).observe(len(msgs))
            CONSUMER_BATCH_SECONDS.labels(self._service, self.durable).observe(
                time.perf_counter() - started
            )

    def _split(self, batch: list[tuple[int, int, ReceivedEvent]]) -> list[list[Any]]:
        count = min(self._groups, len(batch) // self._min_group)
        if count <= 1:
            return [batch] if batch else []
        groups: dict[int, list[tuple[int, int, ReceivedEvent]]] = {}
        for item in batch:
            groups.setdefault(item[0] % count, []).append(item)
        return list(groups.values())

    async def _process_group(self, items: list[tuple[int, int, ReceivedEvent]]) -> None:
        try:
            await self._handle_fenced(items)
        except Fenced:
            self._fenced()
            return
        except Exception:
            log.warning(
                "batch failed; handling one by one", exc_info=True, extra={"consumer": self.durable}
            )
            for item in items:
                if item[0] not in self.held:
                    continue
                await self._handle_alone(item)
            return
        EVENTS_CONSUMED.labels(self._service, self.durable, "ok").inc(len(items))

    async def _handle_fenced(self, items: Sequence[tuple[int, int, ReceivedEvent]]) -> None:
        last: dict[int, int] = {}
        for part, seq, _ in items:
            last[part] = max(seq, last.get(part, 0))
        held = dict(self.held)
        if any(p not in held for p in last):
            raise Fenced("partition released")
        fence = BatchFence(
            self.leases.fence_lock_sql,
            self.leases.fence_check_sql,
            self.leases.fence_params(last, held),
            expected=len(last),
        )
        with fenced(fence):
            await self._handle([event for _, _, event in items])
        for part, seq in last.items():
            if self.held.get(part) == held[part]:
                self._positions[part] = max(seq, self._positions.get(part, 0))

    async def _handle_alone(self, item: tuple[int, int, ReceivedEvent]) -> None:
        """One event in its own transaction, retried; dead-lettered if it alone fails."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._handle_fenced([item])
                EVENTS_CONSUMED.labels(self._service, self.durable, "ok").inc()
                return
            except Fenced:
                self._fenced()
                return
            except Exception as exc:
                if is_transient(exc):
                    # The database, not the event: wait for it, keep the order.
                    attempt = 0
                elif attempt >= self._max_deliveries:
                    await self._give_up(item, exc)
                    return
                delay = min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning(
                    "event failed; will retry",
                    extra={"consumer": self.durable, "event_id": item[2].event_id, "delay": delay},
                    exc_info=exc,
                )
                await asyncio.sleep(delay)

    async def _give_up(self, item: tuple[int, int, ReceivedEvent], exc: Exception) -> None:
        part, seq, event = item
        EVENTS_CONSUMED.labels(self._service, self.durable, "error").inc()
        await self._dead_letter(
            event.subject,
            event.envelope.SerializeToString(),
            event.headers,
            f"{type(exc).__name__}: {exc}",
        )
        # The partition moved past it (recorded with the next heartbeat).
        self._positions[part] = max(seq, self._positions.get(part, 0))

    async def _handle(self, events: Sequence[ReceivedEvent]) -> None:
        with consume_span(self.durable, events):
            await self._handler(events)

    async def _dead_letter(
        self, subject: str, data: bytes, headers: dict[str, str] | None, reason: str
    ) -> None:
        EVENTS_CONSUMED.labels(self._service, self.durable, "dead").inc()
        out = {
            **(headers or {}),
            "Triage-Dead-Reason": reason[:500],
            "Triage-Dead-Consumer": self.durable,
            "Triage-Original-Subject": subject,
        }
        out.pop("Nats-Msg-Id", None)
        await self._bus.js.publish(f"triage.deadletter.{self.durable}", data, headers=out)
        log.error("event dead-lettered", extra={"consumer": self.durable, "reason": reason})
