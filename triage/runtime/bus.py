"""NATS JetStream: streams provisioned at start, publishes with dedup ids, batched consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError
from opentelemetry import trace

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.events import STREAMS, ReceivedEvent, subject_for
from triage.runtime.metrics import CONSUMER_BATCH, CONSUMER_BATCH_SECONDS, EVENTS_CONSUMED
from triage.runtime.telemetry import extract_context, inject_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("triage.bus")

DEDUP_WINDOW_SECONDS = 600.0
STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600.0

BatchHandler = Callable[[Sequence[ReceivedEvent]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for :meth:`Bus.publish_many`; ``event_id`` becomes ``Nats-Msg-Id``."""

    subject: str
    payload: bytes
    event_id: str
    headers: Mapping[str, str]


class Bus:
    """One NATS connection per process, drained on shutdown."""

    def __init__(self, nc: NatsClient, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js

    @classmethod
    async def connect(cls, url: str, *, name: str) -> Bus:
        """Connect to NATS and make sure every Triage stream exists."""
        nc = await nats.connect(
            url,
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            drain_timeout=5,
        )
        bus = cls(nc, nc.jetstream(timeout=10))
        await bus.ensure_streams()
        return bus

    async def ensure_streams(self) -> None:
        """Create or update the streams; safe to run from every replica at every start."""
        for name, subjects in STREAMS.items():
            config = StreamConfig(
                name=name,
                subjects=[subjects],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_age=STREAM_MAX_AGE_SECONDS,
                duplicate_window=DEDUP_WINDOW_SECONDS,
                discard=DiscardPolicy.OLD,
            )
            try:
                await self.js.add_stream(config)
            except BadRequestError:
                await self.js.update_stream(config)

    async def publish_raw(
        self,
        subject: str,
        payload: bytes,
        *,
        event_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Publish and wait for the JetStream ack; ``Nats-Msg-Id`` = ``event_id``."""
        all_headers = {**(headers or {}), "Nats-Msg-Id": event_id}
        await self.js.publish(subject, payload, headers=all_headers)

    async def publish_many(self, messages: Sequence[Outgoing], *, timeout: float = 10.0) -> None:
        """Publish every message, then wait for all their JetStream acks.

        The messages go out in one write, each ack settles a future (no request, timer and
        task per message as with ``publish``: ~30 % less client CPU per message, measured
        here). Raises the first failure, or TimeoutError; a message whose ack was not
        seen may still be stored, which ``Nats-Msg-Id`` makes harmless on a retry.
        """
        acks: list[asyncio.Future[Any]] = []
        try:
            for m in messages:
                headers = {**m.headers, "Nats-Msg-Id": m.event_id}
                acks.append(await self.js.publish_async(m.subject, m.payload, headers=headers))
            async with asyncio.timeout(timeout):
                await asyncio.gather(*acks)
        finally:
            for ack in acks:  # settled ones ignore it; pending ones leave the client's table
                ack.cancel()

    async def publish(self, envelope: Envelope) -> None:
        """Publish an envelope directly (tests and tools; services go through the outbox)."""
        await self.publish_raw(
            subject_for(envelope.type, envelope.tenant_id),
            envelope.SerializeToString(),
            event_id=envelope.event_id,
            headers=inject_headers(),
        )

    async def close(self) -> None:
        """Drain subscriptions and close the connection."""
        with contextlib.suppress(Exception):
            await self.nc.drain()


E = TypeVar("E", bound=tuple[Any, ReceivedEvent])


def partition(events: Sequence[E], partitions: int, min_group_size: int) -> list[list[E]]:
    """Split a batch into at most ``partitions`` groups of about ``min_group_size`` or more.

    Events with the same ordering key (an alert series, a ticket) stay in one group, in
    order, so concurrent groups' transactions never wait on each other's rows. A small batch
    stays whole: every group is a transaction with its own fixed cost, which only pays off
    when the batch is large enough for the round trips to matter more than the CPU.
    """
    count = min(partitions, len(events) // min_group_size)
    if count <= 1:
        return [list(events)] if events else []
    groups: dict[int, list[E]] = {}
    for pair in events:
        key = pair[1].envelope.ordering_key or pair[1].event_id
        groups.setdefault(zlib.crc32(key.encode()) % count, []).append(pair)
    return list(groups.values())


class ArrivalRate:
    """Events per second, averaged over the last ``horizon`` seconds (exponential decay)."""

    def __init__(self, horizon: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._horizon = horizon
        self._clock = clock
        self._rate = 0.0
        self._at = clock()

    def _decayed(self, now: float) -> float:
        return self._rate * math.exp(-(now - self._at) / self._horizon)

    def add(self, count: int) -> None:
        """Count ``count`` events arriving now."""
        now = self._clock()
        self._rate = self._decayed(now) + count / self._horizon
        self._at = now

    def per_second(self) -> float:
        """The current estimate."""
        return self._decayed(self._clock())


class BatchConsumer:
    """A durable pull consumer that hands batches of events to one handler.

    The handler is expected to commit its effects (and inbox rows) before it returns; only
    then are the messages acked. If it raises, the messages are nak'ed with backoff; a
    message delivered ``max_deliveries`` times is copied to the dead-letter stream and
    terminated. A large batch is split into up to ``partitions`` groups by ordering key
    (:func:`partition`), handled in concurrent transactions; one key's events never sit in
    two groups, so the groups never wait on each other's rows.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        service: str,
        durable: str,
        filter_subjects: Sequence[str],
        handler: BatchHandler,
        batch_size: int = 256,
        max_deliveries: int = 10,
        ack_wait_seconds: float = 30.0,
        fetch_timeout_seconds: float = 1.0,
        linger_seconds: float = 0.02,
        partitions: int = 4,
        min_group_size: int = 64,
    ) -> None:
        self._bus = bus
        self._service = service
        self.durable = durable
        self._filters = list(filter_subjects)
        self._handler = handler
        self._batch_size = batch_size
        self._max_deliveries = max_deliveries
        self._ack_wait = ack_wait_seconds
        self._fetch_timeout = fetch_timeout_seconds
        self._partitions = max(1, partitions)
        self._min_group = max(1, min_group_size)
        self._linger = linger_seconds
        self._arrivals = ArrivalRate()

    async def run(self) -> None:
        """Fetch and handle batches until cancelled."""
        stream = await self._bus.js.find_stream_name_by_subject(self._filters[0])
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_ack_pending=max(1000, self._batch_size * 4),
            filter_subjects=self._filters if len(self._filters) > 1 else None,
            filter_subject=self._filters[0] if len(self._filters) == 1 else None,
        )
        await self._bus.js.add_consumer(stream, config)
        sub = await self._bus.js.pull_subscribe_bind(self.durable, stream)
        task = asyncio.current_task()
        try:
            while True:
                try:
                    msgs = await self._fetch(sub)
                except (TimeoutError, nats.errors.TimeoutError):
                    msgs = []
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("fetch failed", extra={"consumer": self.durable})
                    await asyncio.sleep(0.5)
                    continue
                if task is not None and task.cancelling():
                    # nats-py waits for messages with asyncio.wait_for, which on Python
                    # 3.11 can swallow a cancel that meets a message: the consumer would
                    # never stop. What was fetched is redelivered after the ack wait.
                    raise asyncio.CancelledError
                if msgs:
                    await self.process(msgs)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _fetch(self, sub: Any) -> list[Msg]:
        """Wait for one message, then gather a batch if events stream, else go at once.

        While events arrive fast enough for one to be expected within the linger, the rest
        of a batch is gathered for up to the linger: each batch is one transaction, and its
        fixed cost shared by more events kept a loaded mesh faster (paired steps at 250/s:
        e2e p50 129-136 ms lingering 20 ms, 174-188 ms without). On a quiet stream an event
        goes on at once, with only what is already waiting (the first message's
        ``num_pending``): a pull request for more than the server holds stays open until
        it expires, which cost every hop of an idle mesh the whole linger.
        """
        first: list[Msg] = await sub.fetch(1, timeout=self._fetch_timeout)
        if self._batch_size == 1:
            return first
        if self._arrivals.per_second() * self._linger >= 1.0:
            wanted, timeout = self._batch_size - 1, self._linger
        else:
            wanted = min(self._batch_size - 1, first[0].metadata.num_pending or 0)
            timeout = 0.02  # the server fills it at once, unless another replica took some
            if wanted <= 0:
                self._arrivals.add(1)
                return first
        try:
            more: list[Msg] = await sub.fetch(wanted, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            more = []
        self._arrivals.add(1 + len(more))
        return first + more

    async def process(self, msgs: Sequence[Msg]) -> None:
        """Decode, hand to the handler, then ack; isolate a poison message on failure."""
        started = time.perf_counter()
        try:
            await self._process(msgs)
        finally:
            CONSUMER_BATCH.labels(self._service, self.durable).observe(len(msgs))
            CONSUMER_BATCH_SECONDS.labels(self._service, self.durable).observe(
                time.perf_counter() - started
            )

    async def _process(self, msgs: Sequence[Msg]) -> None:
        events: list[tuple[Msg, ReceivedEvent]] = []
        for msg in msgs:
            event = self._decode(msg)
            if event is None:
                await self._dead_letter(msg, "undecodable envelope")
                continue
            events.append((msg, event))
        groups = partition(events, self._partitions, self._min_group)
        if len(groups) == 1:
            await self._process_group(groups[0])
            return
        await asyncio.gather(*(self._process_group(group) for group in groups))

    async def _process_group(self, events: list[tuple[Msg, ReceivedEvent]]) -> None:
        if not events:
            return
        try:
            await self._handle([e for _, e in events])
        except Exception:
            log.warning(
                "batch failed; handling one by one", exc_info=True, extra={"consumer": self.durable}
            )
            for msg, event in events:
                try:
                    await self._handle([event])
                except Exception as exc:
                    await self._fail(msg, event, exc)
                else:
                    await msg.ack()
            return
        for msg, _ in events:
            await msg.ack()
        EVENTS_CONSUMED.labels(self._service, self.durable, "ok").inc(len(events))

    async def _handle(self, events: Sequence[ReceivedEvent]) -> None:
        links = [
            trace.Link(ctx)
            for e in events
            if (
                ctx := trace.get_current_span(extract_context(e.headers)).get_span_context()
            ).is_valid
        ]
        if len(events) == 1:
            with tracer.start_as_current_span(
                f"consume {events[0].type}",
                context=extract_context(events[0].headers),
                kind=trace.SpanKind.CONSUMER,
                attributes={"messaging.system": "nats", "messaging.consumer": self.durable},
            ):
                await self._handler(events)
            return
        with tracer.start_as_current_span(
            f"consume batch {self.durable}",
            links=links,
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.batch.message_count": len(events)},
        ):
            await self._handler(events)

    async def _fail(self, msg: Msg, event: ReceivedEvent, exc: Exception) -> None:
        EVENTS_CONSUMED.labels(self._service, self.durable, "error").inc()
        if event.num_delivered >= self._max_deliveries:
            await self._dead_letter(msg, f"{type(exc).__name__}: {exc}")
            return
        delay = min(60.0, 0.5 * 2 ** (event.num_delivered - 1)) * random.uniform(0.5, 1.0)
        log.warning(
            "event failed; will retry",
            extra={"consumer": self.durable, "event_id": event.event_id, "delay": delay},
            exc_info=exc,
        )
        await msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        EVENTS_CONSUMED.labels(self._service, self.durable, "dead").inc()
        headers = {
            **(msg.headers or {}),
            "Triage-Dead-Reason": reason[:500],
            "Triage-Dead-Consumer": self.durable,
            "Triage-Original-Subject": msg.subject,
        }
        headers.pop("Nats-Msg-Id", None)
        await self._bus.js.publish(f"triage.deadletter.{self.durable}", msg.data, headers=headers)
        await msg.term()
        log.error("event dead-lettered", extra={"consumer": self.durable, "reason": reason})

    @staticmethod
    def _decode(msg: Msg) -> ReceivedEvent | None:
        envelope = Envelope()
        try:
            envelope.ParseFromString(msg.data)
        except Exception:
            return None
        if not envelope.event_id or not envelope.tenant_id:
            return None
        return ReceivedEvent(
            envelope=envelope,
            subject=msg.subject,
            headers=dict(msg.headers or {}),
            num_delivered=msg.metadata.num_delivered,
        )
