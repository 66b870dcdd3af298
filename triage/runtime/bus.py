"""NATS JetStream: streams provisioned at start (partitioned by key), publishes with dedup ids."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    SubjectTransform,
)
from nats.js.errors import BadRequestError

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.events import (
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECTS,
    envelope_subject,
    partition_transform,
    stream_name,
    stream_subjects,
)
from triage.runtime.telemetry import inject_headers

log = logging.getLogger(__name__)

DEDUP_WINDOW_SECONDS = 600.0
#: Messages prepared or published between two yields to the event loop: publishing shares
#: the loop with the webhook gateway, which a large batch would otherwise stall.
YIELD_EVERY = 64
#: Partitions per stream unless configured (``TRIAGE_PARTITIONS``): the ceiling of one
#: consumer group's parallelism across replicas.
DEFAULT_PARTITIONS = 16
STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for :meth:`Bus.publish_many`; ``event_id`` becomes ``Nats-Msg-Id``."""

    subject: str
    payload: bytes
    event_id: str
    headers: Mapping[str, str]


class Bus:
    """One NATS connection per process, drained on shutdown."""

    def __init__(
        self, nc: NatsClient, js: JetStreamContext, *, partitions: int = DEFAULT_PARTITIONS
    ) -> None:
        self.nc = nc
        self.js = js
        self.partitions = partitions
        self._ensured: set[str] = set()

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        name: str,
        partitions: int = DEFAULT_PARTITIONS,
        streams: Iterable[str] = (),
    ) -> Bus:
        """Connect to NATS and make sure the dead letters' stream and the streams of the
        event domains in ``streams`` (``"alert"``: TRIAGE_ALERT) exist."""
        nc = await nats.connect(
            url,
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            drain_timeout=5,
        )
        bus = cls(nc, nc.jetstream(timeout=10), partitions=partitions)
        await bus._ensure(DEADLETTER_STREAM, DEADLETTER_SUBJECTS, None)
        await bus.ensure_streams(streams)
        return bus

    async def ensure_streams(self, domains: Iterable[str]) -> None:
        """Create or update the streams of event ``domains`` (once per connection); safe to
        run from every replica at every start.

        Each domain stream partitions its subjects by key token into ``self.partitions``
        partitions (a subject transform, so the count lives in the stream, once, for every
        publisher). Every service must be configured with the same count.
        """
        for domain in domains:
            if domain in self._ensured:
                continue
            src, dest = partition_transform(domain, self.partitions)
            transform = SubjectTransform(src=src, dest=dest)
            await self._ensure(stream_name(domain), stream_subjects(domain), transform)
            self._ensured.add(domain)

    async def _ensure(self, name: str, subjects: str, transform: SubjectTransform | None) -> None:
        config = StreamConfig(
            name=name,
            subjects=[subjects],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=STREAM_MAX_AGE_SECONDS,
            duplicate_window=DEDUP_WINDOW_SECONDS,
            discard=DiscardPolicy.OLD,
            subject_transform=transform,
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
            for n, m in enumerate(messages, 1):
                headers = {**m.headers, "Nats-Msg-Id": m.event_id}
                acks.append(await self.js.publish_async(m.subject, m.payload, headers=headers))
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # others on the loop (webhooks) get a turn
            async with asyncio.timeout(timeout):
                await asyncio.gather(*acks)
        finally:
            for ack in acks:  # settled ones ignore it; pending ones leave the client's table
                ack.cancel()

    async def publish(self, envelope: Envelope) -> None:
        """Publish an envelope directly (tests and tools; services go through the outbox)."""
        await self.publish_raw(
            envelope_subject(envelope),
            envelope.SerializeToString(),
            event_id=envelope.event_id,
            headers=inject_headers(),
        )

    async def close(self) -> None:
        """Drain subscriptions and close the connection."""
        with contextlib.suppress(Exception):
            await self.nc.drain()
