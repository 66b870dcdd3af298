"""Transactional outbox: state change and event in one commit, published by one relay."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from opentelemetry import propagate, trace
from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.bus import YIELD_EVERY, Bus, Outgoing
from triage.runtime.db import Database, after_commit, raw_cursor
from triage.runtime.events import envelope_subject
from triage.runtime.inbox import Inbox
from triage.runtime.metrics import EVENTS_PUBLISHED, OUTBOX_LAG
from triage.runtime.relay_leader import RelayLeadership
from triage.runtime.telemetry import extract_context, inject_headers
from triage.runtime.waiting import wait_event

log = logging.getLogger(__name__)
INBOX_RETENTION = timedelta(days=8)
tracer = trace.get_tracer("triage.outbox")


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table in the service's schema (the metadata carries the schema).

    Insert-only: what is still to publish is the set of ids in :func:`outbox_pending_table`,
    so publishing never rewrites these wide rows.
    """
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        Column("tenant_id", UUID(as_uuid=False), nullable=False),
        Column("subject", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("envelope", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def outbox_pending_table(metadata: MetaData) -> Table:
    """The ids of outbox rows still to publish: a narrow queue the relay deletes from.

    Named after the outbox (:class:`Outbox` and the relay derive it). Its row-level
    security comes from :func:`triage.runtime.migrations.upgrade_outbox_to_pending`:
    tenant transactions may only add ids.
    """
    return Table(
        "outbox_pending",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
    )


def inbox_table(metadata: MetaData) -> Table:
    """The inbox table: one row per (consumer, event) already handled."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", UUID(as_uuid=False), primary_key=True),
        Column("tenant_id", UUID(as_uuid=False), nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


#: Committed events held in memory for the relay; beyond this, the database queue serves.
MAX_READY = 20_000

#: The relay lingers only while commits stream: within this many lingers of its last round.
STREAMING_WINDOW_LINGERS = 10


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    """An outbox row this process committed, published from memory (no read of the row)."""

    id: int
    event_id: str
    subject: str
    type: str
    envelope: bytes
    headers: dict[str, str]
    created_at: datetime


class Outbox:
    """Writes events inside the caller's transaction and hands them to the relay after commit.

    The relay publishes what this process committed straight from memory; the pending
    queue in the database stays the source of truth (other replicas' rows, a restart, a
    failed publish), read by the relay's periodic scan.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.pending = f"{table.schema}.{table.name}_pending"
        self._wake = asyncio.Event()
        self._ready: deque[CommittedEvent] = deque()
        self._scan = True  # the first relay pass reads the queue (rows of a previous run)
        self.last_committed_id = 0
        # One statement for any number of events (arrays unnested) that also queues their
        # ids and returns them: a fixed text, one trip.
        self._insert_sql = (
            f"WITH ins AS (INSERT INTO {table.schema}.{table.name} "
            "(event_id, tenant_id, subject, type, envelope, headers) "
            "SELECT * FROM unnest(%(event_id)b::uuid[], %(tenant_id)b::uuid[], "
            "%(subject)b::text[], %(type)b::text[], %(envelope)b::bytea[], %(headers)b::jsonb[])"
            f" RETURNING id, event_id), q AS (INSERT INTO {self.pending} (id) SELECT id FROM ins)"
            " SELECT id, event_id::text FROM ins"
        )

    async def add(
        self,
        session: AsyncSession,
        *envelopes: Envelope,
        trace_headers: Sequence[dict[str, str]] | None = None,
    ) -> None:
        """Stage ``envelopes`` in the current transaction; published only if it commits.

        Each event carries the trace context current now, or its own entry of
        ``trace_headers`` when one task writes events for many requests (group commit).
        """
        if not envelopes:
            return
        current = inject_headers()
        params: dict[str, list[Any]] = {
            "event_id": [],
            "tenant_id": [],
            "subject": [],
            "type": [],
            "envelope": [],
            "headers": [],
        }
        for i, e in enumerate(envelopes):
            params["event_id"].append(e.event_id)
            params["tenant_id"].append(e.tenant_id)
            params["subject"].append(envelope_subject(e))
            params["type"].append(e.type)
            params["envelope"].append(e.SerializeToString())
            params["headers"].append(Jsonb(trace_headers[i] if trace_headers else current))
        async with raw_cursor(
            session, schema=str(self.table.schema), statement=self._insert_sql
        ) as cursor:
            await cursor.execute(self._insert_sql, params)
            ids = {event_id: row_id for row_id, event_id in await cursor.fetchall()}
        now = datetime.now(UTC)
        committed = [
            CommittedEvent(
                id=ids[str(uuid.UUID(e.event_id))],
                event_id=e.event_id,
                subject=params["subject"][i],
                type=e.type,
                envelope=params["envelope"][i],
                headers=params["headers"][i].obj,
                created_at=now,
            )
            for i, e in enumerate(envelopes)
        ]
        after_commit(session, partial(self.committed, committed))

    def committed(self, events: Sequence[CommittedEvent]) -> None:
        """Hand the relay events whose transaction has committed (call only after commit)."""
        self.last_committed_id = max([self.last_committed_id, *(e.id for e in events)])
        if len(self._ready) + len(events) > MAX_READY:
            self._scan = True  # still queued in the database; the scan reads them
        else:
            self._ready.extend(events)
        self._wake.set()

    def wake(self) -> None:
        """Tell the relay to read the database queue now (rows it was not handed)."""
        self._scan = True
        self._wake.set()

    def has_ready(self) -> bool:
        """Whether committed events wait for the relay."""
        return bool(self._ready)

    def take_ready(self, limit: int) -> list[CommittedEvent]:
        """Up to ``limit`` committed events, oldest first, handed over to the caller."""
        count = min(limit, len(self._ready))
        return [self._ready.popleft() for _ in range(count)]

    def take_scan(self) -> bool:
        """Whether a read of the database queue was asked for since the last call."""
        scan, self._scan = self._scan, False
        return scan

    async def wait(self, seconds: float) -> None:
        """Wait until woken or ``seconds`` pass."""
        await wait_event(self._wake, seconds)
        self._wake.clear()


class OutboxRelay:
    """Publishes committed outbox rows to JetStream promptly, across replicas (SKIP LOCKED).

    A row is to publish while its id is in the pending queue; publishing deletes the id and
    leaves the row, which is kept for ``retention`` so events can be replayed after a NATS
    loss.
    """

    def __init__(
        self,
        *,
        db: Database,
        bus: Bus,
        outbox: Outbox,
        service: str,
        batch_size: int = 500,
        idle_poll_seconds: float = 1.0,
        retention: timedelta = timedelta(hours=72),
        linger_seconds: float = 0.005,
        leadership: RelayLeadership | None = None,
    ) -> None:
        self._db = db
        #: None: this relay always publishes (one process, tests); else only while leading.
        self._leadership = leadership
        self._bus = bus
        self._outbox = outbox
        self._table = outbox.table
        self._service = service
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._retention = retention
        self._linger = linger_seconds
        self._last_round = float("-inf")
        self._last_cleanup = 0.0
        outbox_name = f"{self._table.schema}.{self._table.name}"
        pending = outbox.pending
        # Fixed texts: this is the hot path. Locking only the queue rows keeps replicas apart
        # without touching the wide outbox rows. The claim is a materialized CTE so the plan
        # always starts from the queue: as a plain join, stale statistics of the queue (after
        # a backlog drained) made PostgreSQL walk the whole outbox index in id order instead.
        self._claim_sql = text(
            f"WITH p AS MATERIALIZED (SELECT id FROM {pending} ORDER BY id LIMIT :limit "
            "FOR UPDATE SKIP LOCKED) "
            "SELECT o.id, o.subject, o.type, o.envelope, o.headers, o.event_id, o.created_at "
            f"FROM p JOIN {outbox_name} o USING (id) ORDER BY o.id"
        )
        # = ANY(array): one parameter, so the statement text is the same for any batch.
        self._done_sql = text(f"DELETE FROM {pending} WHERE id = ANY(CAST(:ids AS bigint[]))")
        # Claims committed events by id (index lookups, never a walk over the queue's dead
        # entries); an id another replica's scan holds or already published is skipped.
        # Claims committed events by id up to the newest of them, with any other pending
        # row below it (another replica's commits): published together in id order.
        self._claim_ids_sql = text(
            f"DELETE FROM {pending} WHERE id IN (SELECT id FROM {pending} "
            "WHERE id <= :upto ORDER BY id FOR UPDATE SKIP LOCKED) RETURNING id"
        )
        self._rows_sql = text(
            "SELECT id, subject, type, envelope, headers, event_id, created_at "
            f"FROM {outbox_name} WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"
        )
        self._left_sql = text(f"SELECT EXISTS (SELECT 1 FROM {pending} WHERE id <= :upto)")
        self._newest_sql = text(f"SELECT COALESCE(max(id), 0) FROM {pending}")
        self._requeue_sql = text(
            f"INSERT INTO {pending} (id) SELECT id FROM {outbox_name} "
            "WHERE created_at >= :since ON CONFLICT DO NOTHING"
        )
        self._cleanup_sql = text(
            f"DELETE FROM {outbox_name} o WHERE o.created_at < :cutoff "
            f"AND NOT EXISTS (SELECT 1 FROM {pending} p WHERE p.id = o.id)"
        )

    async def run(self) -> None:
        """Publish forever: what this process committed at once, from memory; the database
        queue when asked (:meth:`Outbox.wake`) and at least every idle-poll interval. With
        a leadership, only while this relay leads; a follower tells the leader instead."""
        leading = None
        if self._leadership is not None:
            leading = asyncio.create_task(self._leadership.run(self._outbox.wake))
        try:
            await self._publish_forever()
        finally:
            if leading is not None:
                leading.cancel()
                await asyncio.gather(leading, return_exceptions=True)

    def _leads(self) -> bool:
        return self._leadership is None or self._leadership.is_leader

    async def _publish_forever(self) -> None:
        last_scan = float("-inf")
        while True:
            try:
                if not self._leads():
                    await self._follow()
                    await self._outbox.wait(self._idle_poll)
                    continue
                if self._linger and self._outbox.has_ready() and self._streaming():
                    # Commits come in bursts: a few ms gathers them into one claim and one
                    # round of publishes instead of one per commit. A commit after a quiet
                    # spell goes at once: waiting would gather nothing.
                    await asyncio.sleep(self._linger)
                while await self.publish_ready():
                    self._last_round = time.monotonic()
                if self._outbox.take_scan() or time.monotonic() - last_scan >= self._idle_poll:
                    last_scan = time.monotonic()
                    while await self.publish_pending() == self._batch_size:
                        pass
                    await self._maybe_cleanup()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                await asyncio.sleep(self._idle_poll)
            await self._outbox.wait(max(0.0, self._idle_poll - (time.monotonic() - last_scan)))

    async def _follow(self) -> None:
        """A follower's round: what this process committed stays queued in the database;
        the leader is told."""
        told = self._outbox.take_ready(MAX_READY)
        self._outbox.take_scan()
        if told and self._leadership is not None:
            await self._leadership.notify()

    def _streaming(self) -> bool:
        """Whether the last round of publishes was recent enough for more to be coming."""
        return time.monotonic() - self._last_round < STREAMING_WINDOW_LINGERS * self._linger

    async def publish_ready(self) -> int:
        """Publish up to a batch of events this process committed, with any row another
        replica committed below the newest of them, in id order; returns how many of this
        process's events were taken. On failure they stay queued in the database and a
        scan is asked for."""
        ready = self._outbox.take_ready(self._batch_size)
        if not ready:
            return 0
        try:
            async with self._db.system_transaction() as session:
                upto = max(e.id for e in ready)
                claimed = set(
                    (await session.execute(self._claim_ids_sql, {"upto": upto})).scalars()
                )
                mine = {e.id: e for e in ready if e.id in claimed}
                others = sorted(claimed - set(mine))
                rows: list[Any] = list(mine.values())
                if others:
                    rows += (await session.execute(self._rows_sql, {"ids": others})).all()
                rows.sort(key=lambda r: int(r.id))
                await self._publish(rows)
        except Exception:
            self._outbox.wake()
            raise
        self._record(rows)
        return len(ready)

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published (none by a
        follower: the leader publishes)."""
        if not self._leads():
            return 0
        async with self._db.system_transaction() as session:
            rows = (await session.execute(self._claim_sql, {"limit": self._batch_size})).all()
            if not rows:
                return 0
            await self._publish(rows)
            await session.execute(self._done_sql, {"ids": [r.id for r in rows]})
        self._record(rows)
        return len(rows)

    async def _publish(self, rows: Sequence[Any]) -> None:
        """Publish ``rows`` (outbox rows or committed events) and wait for every ack, each in
        its own producer span continuing the trace its row carries."""
        spans = [
            tracer.start_span(
                f"publish {row.type}",
                context=extract_context(row.headers),
                kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.system": "nats", "messaging.destination.name": row.subject},
            )
            for row in rows
        ]
        messages = []
        for n, (row, span) in enumerate(zip(rows, spans, strict=True), 1):
            headers: dict[str, str] = {}
            propagate.inject(headers, context=trace.set_span_in_context(span))
            messages.append(Outgoing(row.subject, row.envelope, str(row.event_id), headers))
            if n % YIELD_EVERY == 0:
                # The relay shares the event loop with the webhook gateway: a large batch
                # lets waiting requests in every so often instead of stalling them whole.
                await asyncio.sleep(0)
        try:
            await self._bus.publish_many(messages)
        finally:
            for span in spans:
                span.end()

    async def flush(self, *, within: float = 5.0) -> None:
        """Have everything committed so far published, this process's and the queue's
        (rows other replicas committed, e.g. one that died). A consumer calls it before it
        gives a partition away and before it starts on one it took, so a key's events
        reach the stream in commit order across the handover. A follower asks the leader
        and waits (up to ``within`` seconds) until the queue holds nothing older."""
        if self._leads():
            while await self.publish_ready():
                pass
            while await self.publish_pending() == self._batch_size:
                pass
            return
        async with self._db.system_transaction() as session:
            upto = await session.scalar(self._newest_sql)
        # What this process committed stays queued for the leader, told once.
        self._outbox.take_ready(MAX_READY)
        if self._leadership is not None:
            await self._leadership.notify()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            async with self._db.system_transaction() as session:
                if not await session.scalar(self._left_sql, {"upto": upto}):
                    return
            await asyncio.sleep(0.02)
        log.warning("outbox not published within the handover wait", extra={"upto": upto})

    async def republish_since(self, since: datetime) -> int:
        """Queue rows committed since ``since`` for publishing again (replay after a NATS
        loss); returns how many were queued (rows still pending are not counted)."""
        async with self._db.system_transaction() as session:
            result = await session.execute(self._requeue_sql, {"since": since})
        self._outbox.wake()
        return int(getattr(result, "rowcount", 0) or 0)

    def _record(self, rows: Any) -> None:
        now = datetime.now(UTC)
        for r in rows:
            EVENTS_PUBLISHED.labels(self._service, r.type).inc()
            OUTBOX_LAG.labels(self._service).observe((now - r.created_at).total_seconds())

    async def _maybe_cleanup(self) -> None:
        if time.monotonic() - self._last_cleanup < 300:
            return
        self._last_cleanup = time.monotonic()
        cutoff = datetime.now(UTC) - self._retention
        inbox = f"{self._table.schema}.inbox"
        async with self._db.system_transaction() as session:
            # A row still pending is kept whatever its age: it has not been published yet.
            await session.execute(self._cleanup_sql, {"cutoff": cutoff})
            # Inbox rows only need to outlive any possible redelivery: the streams keep
            # events for 7 days, so older ids can never come back.
            if (await session.execute(text("SELECT to_regclass(:t)"), {"t": inbox})).scalar():
                await session.execute(
                    text(f"DELETE FROM {inbox} WHERE handled_at < :cutoff"),
                    {"cutoff": datetime.now(UTC) - INBOX_RETENTION},
                )


__all__ = ["CommittedEvent", "Inbox", "Outbox", "OutboxRelay", "inbox_table", "outbox_table"]
