"""Transactional outbox and inbox: state change and event in one commit; effects once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import propagate, trace
from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.bus import Bus
from triage.runtime.db import Database, after_commit, raw_cursor
from triage.runtime.events import ReceivedEvent, subject_for
from triage.runtime.metrics import EVENTS_PUBLISHED, OUTBOX_LAG
from triage.runtime.telemetry import extract_context, inject_headers

log = logging.getLogger(__name__)
INBOX_RETENTION = timedelta(days=8)
tracer = trace.get_tracer("triage.outbox")


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table in the service's schema (the metadata carries the schema)."""
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
        Column("published_at", DateTime(timezone=True)),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
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


class Outbox:
    """Writes events inside the caller's transaction and wakes the relay after commit."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._wake = asyncio.Event()
        # One statement for any number of events (arrays unnested): a fixed text, one trip.
        self._insert_sql = (
            f"INSERT INTO {table.schema}.{table.name} "
            "(event_id, tenant_id, subject, type, envelope, headers) "
            "SELECT * FROM unnest(%(event_id)s::uuid[], %(tenant_id)s::uuid[], "
            "%(subject)s::text[], %(type)s::text[], %(envelope)s::bytea[], %(headers)s::jsonb[])"
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
            params["subject"].append(subject_for(e.type, e.tenant_id))
            params["type"].append(e.type)
            params["envelope"].append(e.SerializeToString())
            params["headers"].append(Jsonb(trace_headers[i] if trace_headers else current))
        async with raw_cursor(
            session, schema=str(self.table.schema), statement=self._insert_sql
        ) as cursor:
            await cursor.execute(self._insert_sql, params)
        after_commit(session, self.wake)

    def wake(self) -> None:
        """Tell the relay there is something to publish now."""
        self._wake.set()

    async def wait(self, seconds: float) -> None:
        """Wait until woken or ``seconds`` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()


class OutboxRelay:
    """Publishes committed outbox rows to JetStream promptly, across replicas (SKIP LOCKED).

    Published rows are kept for ``retention`` so events can be replayed after a NATS loss.
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
    ) -> None:
        self._db = db
        self._bus = bus
        self._outbox = outbox
        self._table = outbox.table
        self._service = service
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._retention = retention
        self._last_cleanup = 0.0

    async def run(self) -> None:
        """Publish forever: after every wake-up, and on an idle poll for other replicas' rows."""
        while True:
            try:
                while await self.publish_pending() == self._batch_size:
                    pass
                await self._maybe_cleanup()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                await asyncio.sleep(self._idle_poll)
            await self._outbox.wait(self._idle_poll)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        t = self._table
        async with self._db.system_transaction() as session:
            rows = (
                await session.execute(
                    select(
                        t.c.id,
                        t.c.subject,
                        t.c.type,
                        t.c.envelope,
                        t.c.headers,
                        t.c.event_id,
                        t.c.created_at,
                    )
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await asyncio.gather(*(self._publish(r) for r in rows))
            now = datetime.now(UTC)
            # = ANY(array): one parameter, so the statement text is the same for any batch.
            await session.execute(
                update(t)
                .where(t.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
                .values(published_at=now),
                {"ids": [r.id for r in rows]},
            )
        self._record(rows)
        return len(rows)

    async def _publish(self, row: Any) -> None:
        span = tracer.start_span(
            f"publish {row.type}",
            context=extract_context(row.headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.system": "nats", "messaging.destination.name": row.subject},
        )
        headers: dict[str, str] = {}
        propagate.inject(headers, context=trace.set_span_in_context(span))
        try:
            await self._bus.publish_raw(
                row.subject, row.envelope, event_id=str(row.event_id), headers=headers
            )
        finally:
            span.end()

    async def republish_since(self, since: datetime) -> int:
        """Mark rows committed since ``since`` unpublished again (replay after a NATS loss)."""
        t = self._table
        async with self._db.system_transaction() as session:
            result = await session.execute(
                update(t).where(t.c.created_at >= since).values(published_at=None)
            )
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
        t = self._table
        inbox = f"{t.schema}.inbox"
        async with self._db.system_transaction() as session:
            await session.execute(
                delete(t).where(t.c.published_at.is_not(None), t.c.published_at < cutoff)
            )
            # Inbox rows only need to outlive any possible redelivery: the streams keep
            # events for 7 days, so older ids can never come back.
            if (await session.execute(text("SELECT to_regclass(:t)"), {"t": inbox})).scalar():
                await session.execute(
                    text(f"DELETE FROM {inbox} WHERE handled_at < :cutoff"),
                    {"cutoff": datetime.now(UTC) - INBOX_RETENTION},
                )


class Inbox:
    """Records handled event ids in the consumer's transaction, so redelivery is harmless."""

    def __init__(self, table: Table, consumer: str) -> None:
        self.table = table
        self.consumer = consumer
        self._claim_many_sql = text(
            f"INSERT INTO {table.schema}.{table.name} (consumer, event_id, tenant_id) "
            "SELECT :consumer, e, t FROM unnest(CAST(:event_ids AS uuid[]), "
            "CAST(:tenant_ids AS uuid[])) AS x(e, t) "
            "ON CONFLICT DO NOTHING RETURNING event_id::text"
        )

    async def claim_many(
        self, session: AsyncSession, events: Sequence[ReceivedEvent]
    ) -> list[ReceivedEvent]:
        """The events not handled before (first occurrence of each id), claimed at once.

        For batch handlers: one statement for the whole batch. The batch's tenants must be
        bound (:func:`triage.runtime.db.bind_tenants`).
        """
        first: dict[str, ReceivedEvent] = {}
        for event in events:
            first.setdefault(str(uuid.UUID(event.event_id)), event)
        if not first:
            return []
        rows = await session.execute(
            self._claim_many_sql,
            {
                "consumer": self.consumer,
                "event_ids": list(first),
                "tenant_ids": [e.tenant_id for e in first.values()],
            },
        )
        claimed = set(rows.scalars())
        return [event for key, event in first.items() if key in claimed]

    async def claim(self, session: AsyncSession, *, event_id: str, tenant_id: str) -> bool:
        """True the first time this consumer sees ``event_id``; False for a redelivery."""
        result = await session.execute(
            insert(self.table)
            .values(consumer=self.consumer, event_id=event_id, tenant_id=tenant_id)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )
        return result.first() is not None
