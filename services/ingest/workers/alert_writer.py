"""Group commit: many webhooks' alerts stored in one transaction, each answered after it.

A request hands its records to :meth:`AlertWriter.write` and waits. Writer loops collect
whatever is queued (up to ``max_batch`` alerts, waiting at most ``window`` for more),
store them and their ``alert.received`` events in one transaction, and only then answer
every waiting request. Measured on this machine this is what lifts the gateway from
~3,200 to ~5,900 durable webhooks/s (ARCHITECTURE.md). The window is 0 by default: while
the loops' transactions run, requests queue up and form the next batches anyway, and a
quiet gateway should not make a lone webhook wait (mesh bench: p50 17 -> 15 ms at 250/s,
and the gateway keeps up with 1,000/s offered where it took 952/s).

One request's bad records never fail the others of its batch: a record whose event
cannot be built is refused before it joins a batch, and a batch the database refuses
is stored again in halves until the request at fault is alone; it alone gets
:class:`UnstorableAlert` (the gateway answers 400), every other request its answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from opentelemetry import trace
from prometheus_client import Histogram
from sqlalchemy.exc import OperationalError

from services.ingest.domain.records import AlertRecord, WriteResult
from services.ingest.errors import StorageUnavailable, TenantDeleted, UnstorableAlert
from services.ingest.events import received_event_rows
from services.ingest.service.offload import off_loop
from services.ingest.store.alert_writes import batch_outcome, insert_alert_batch
from services.ingest.store.integrations import touch_integrations
from triage.runtime import (
    CommittedEvent,
    Database,
    DedicatedConnection,
    Outbox,
    extract_context,
    inject_headers,
)

log = logging.getLogger(__name__)
BATCH_SIZE = Histogram(
    "triage_ingest_batch_alerts",
    "Alerts per group-committed batch",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
BATCH_SECONDS = Histogram(
    "triage_ingest_batch_seconds",
    "Time to store one batch (transaction incl. commit)",
    buckets=(0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.5),
)
tracer = trace.get_tracer("triage.ingest.writer")
# Building events costs tens of microseconds an alert: a body with many alerts builds
# them in a worker thread, so the event loop keeps serving other tenants meanwhile.
THREAD_FROM_RECORDS = 32
_OUTAGES = (OperationalError, psycopg.OperationalError, psycopg.InterfaceError, OSError)
# What one request's data can cause: the database refusing a value (SQLSTATE classes 22
# and 23) or text that cannot be encoded. Anything else is the writer's or the server's.
_RECORD_FAULTS = (psycopg.DataError, psycopg.IntegrityError, UnicodeError, ValueError)


@dataclass(slots=True)
class _Pending:
    records: Sequence[AlertRecord]
    events: list[dict[str, Any]]
    trace_headers: dict[str, str]
    future: asyncio.Future[list[WriteResult]]


@dataclass(slots=True)
class _Batch:
    items: list[_Pending] = field(default_factory=list)
    size: int = 0


class AlertWriter:
    """Durable, idempotent, batched storage of alert records."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        window_seconds: float = 0.0,
        max_batch: int = 500,
        concurrency: int = 3,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._window = window_seconds
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._last_seen: dict[str, datetime] = {}

    async def write(self, records: Sequence[AlertRecord]) -> list[WriteResult]:
        """Store ``records`` durably; one result per record, in order."""
        if not records:
            return []
        headers = inject_headers()
        if len(records) >= THREAD_FROM_RECORDS:
            events = await off_loop(received_event_rows, records, headers)
        else:
            events = received_event_rows(records, headers)
        future: asyncio.Future[list[WriteResult]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(records, events, headers, future))
        return await future

    async def run(self) -> None:
        """Run the writer loops (and the last-seen flusher) until cancelled."""
        await asyncio.gather(
            *(self._loop() for _ in range(self._concurrency)), self._flush_last_seen_forever()
        )

    async def _flush_last_seen_forever(self, every: float = 2.0) -> None:
        # Off the hot path and in a stable order: updating integration rows inside the
        # group-commit transactions made concurrent batches deadlock on them.
        while True:
            await asyncio.sleep(every)
            await self.flush_last_seen()

    async def flush_last_seen(self) -> None:
        """Record when each integration last delivered (best effort, retried next time)."""
        if not self._last_seen:
            return
        pending, self._last_seen = self._last_seen, {}
        try:
            async with self._db.system_transaction() as session:
                for integration_id in sorted(pending):
                    await touch_integrations(session, [integration_id], pending[integration_id])
        except Exception:
            log.warning("could not record last webhook times", exc_info=True)
            for key, value in pending.items():
                self._last_seen.setdefault(key, value)

    async def _loop(self) -> None:
        # Each loop keeps a connection of its own: a pool checkout per batch cost more
        # wall time than the batch's statement under load.
        connection = self._db.dedicated()
        try:
            await self._loop_on(connection)
        finally:
            await connection.close()

    async def _loop_on(self, connection: DedicatedConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = _Batch()
            self._add(batch, await self._queue.get())
            deadline = loop.time() + self._window
            while batch.size < self._max_batch:
                try:
                    self._add(batch, self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    # Not wait_for: on 3.11 it can swallow the loop's cancellation.
                    async with asyncio.timeout(remaining):
                        self._add(batch, await self._queue.get())
                except TimeoutError:
                    break
            await self._flush(batch.items, connection)

    @staticmethod
    def _add(batch: _Batch, item: _Pending) -> None:
        batch.items.append(item)
        batch.size += len(item.records)

    async def _flush(self, items: list[_Pending], connection: DedicatedConnection) -> None:
        started = time.perf_counter()
        try:
            results = await self._store(items, connection)
            BATCH_SIZE.observe(sum(len(i.records) for i in items))
            BATCH_SECONDS.observe(time.perf_counter() - started)
        except _OUTAGES as exc:
            log.warning("alert batch not stored: database unavailable", exc_info=True)
            error = StorageUnavailable("alert storage is unavailable; retry later")
            error.__cause__ = exc
            _fail(items, error)
            return
        except Exception as exc:
            await self._isolate(items, exc, connection)
            return
        for item, result in zip(items, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    async def _isolate(
        self, items: list[_Pending], exc: Exception, connection: DedicatedConnection
    ) -> None:
        """Store a refused batch again in halves, so only the request at fault fails."""
        if len(items) > 1:
            log.warning(
                "alert batch of %d requests refused (%s); storing it in halves",
                len(items),
                type(exc).__name__,
            )
            middle = len(items) // 2
            await self._flush(items[:middle], connection)
            await self._flush(items[middle:], connection)
            return
        if isinstance(exc, _RECORD_FAULTS):
            log.warning("alerts refused by the database: %s", exc)
            error: Exception = UnstorableAlert(
                "the alerts of this request cannot be stored as sent"
            )
            error.__cause__ = exc
        else:
            log.exception("alert batch not stored", exc_info=exc)
            error = exc
        _fail(items, error)

    async def _store(
        self, items: list[_Pending], connection: DedicatedConnection
    ) -> list[list[WriteResult] | Exception]:
        first_context = extract_context(items[0].trace_headers)
        links = [
            trace.Link(span.get_span_context())
            for item in items[1:]
            if (span := trace.get_current_span(extract_context(item.trace_headers)))
            .get_span_context()
            .is_valid
        ]
        with tracer.start_as_current_span(
            "store alert batch",
            context=first_context,
            links=links,
            attributes={"triage.batch.requests": len(items)},
        ):
            return await self._store_in_transaction(items, connection)

    async def _store_in_transaction(
        self, items: list[_Pending], connection: DedicatedConnection
    ) -> list[list[WriteResult] | Exception]:
        unique: dict[tuple[str, str], tuple[AlertRecord, dict[str, Any]]] = {}
        for item in items:
            for record, event in zip(item.records, item.events, strict=True):
                unique.setdefault((record.integration_id, record.delivery_key), (record, event))
        stored: dict[tuple[str, str], tuple[str, bool]] = {}
        now = datetime.now(UTC)
        pairs = list(unique.values())
        events = [event for _, event in pairs]
        bodies = {record.body.id: record for record, _ in pairs}
        async with connection.pipelined_transaction({r.tenant_id for r, _ in pairs}) as tx:
            cursor = await insert_alert_batch(
                tx, [r for r, _ in pairs], events, list(bodies.values())
            )
        committed: list[CommittedEvent] = []
        by_key = {(e["integration_id"], e["delivery_key"]): e for e in events}
        outcome = await batch_outcome(cursor)
        for row in outcome.stored:
            key = (row.integration_id, row.delivery_key)
            stored[key] = (row.id, row.inserted)
            if row.outbox_id is not None:
                event = by_key[key]
                committed.append(
                    CommittedEvent(
                        id=row.outbox_id,
                        event_id=event["event_id"],
                        subject=event["subject"],
                        type=event["type"],
                        envelope=event["envelope"],
                        headers=event["headers"],
                        created_at=now,
                    )
                )
        if committed:
            self._outbox.committed(committed)
        for record, _ in pairs:
            if record.from_source and record.tenant_id not in outcome.refused:
                self._last_seen[record.integration_id] = now

        answered: set[tuple[str, str]] = set()
        results: list[list[WriteResult] | Exception] = []
        for item in items:
            if any(record.tenant_id in outcome.refused for record in item.records):
                # Its tenant was deleted here while the request was on its way: nothing of
                # it was stored (the others of the batch were).
                results.append(TenantDeleted("the tenant was deleted"))
                continue
            out: list[WriteResult] = []
            for record in item.records:
                key = (record.integration_id, record.delivery_key)
                alert_id, inserted = stored[key]
                out.append(
                    WriteResult(
                        alert_id=alert_id,
                        delivery_key=record.delivery_key,
                        duplicate=not inserted or key in answered,
                    )
                )
                answered.add(key)
            results.append(out)
        return results


def _fail(items: Sequence[_Pending], error: Exception) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(error)
