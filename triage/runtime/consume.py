"""The one shape of a consumer's batch handler: choose, order, one claiming transaction.

Every service's consumer runs on :class:`triage.runtime.consumer.BatchConsumer` (which
reads its partitions, fences the batch and acks after commit) with a handler built here:

- ``wanted`` keeps the events the service acts on (the rest need no transaction);
- ``order`` sorts them, stably, by the key whose rows the handler locks, so concurrent
  batches take their locks in one global order and never deadlock, while each key's
  events stay in stream order;
- one transaction: BEGIN, the batch's tenants bound and the inbox claim travel in one
  round trip (the runtime adds the partition fence to the same trip); events the inbox
  already holds are dropped (a replay is harmless);
- ``use(session, fresh)`` applies them; :func:`each_event` adapts a per-event handler, and
  :func:`event_span` gives batch handlers one span per event continuing its trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.consumer import BatchHandler
from triage.runtime.db import Database, bind_tenant
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox
from triage.runtime.telemetry import extract_context

_tracer = trace.get_tracer("triage.consume")
EventHandler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]
BatchUse = Callable[[AsyncSession, Sequence[ReceivedEvent]], Awaitable[None]]


def event_span(event: ReceivedEvent, *, batch_size: int) -> AbstractContextManager[Any]:
    """A ``handle <type>`` span for one event of a batch: in a batch of several it
    continues the event's own trace (linked to the batch's span); alone, it is a child of
    the consume span, which already continues it."""
    batch = trace.get_current_span().get_span_context()
    many = batch_size > 1
    return _tracer.start_as_current_span(
        f"handle {event.type}",
        context=extract_context(event.headers) if many else None,
        kind=trace.SpanKind.CONSUMER,
        links=[trace.Link(batch)] if batch.is_valid and many else [],
        attributes={"triage.event_id": event.event_id},
    )


def claimed_batch(
    db: Database,
    inbox: Inbox,
    use: BatchUse,
    *,
    wanted: Callable[[ReceivedEvent], bool] | None = None,
    order: Callable[[ReceivedEvent], str] | None = None,
) -> BatchHandler:
    """A batch handler: the ``wanted`` events, sorted by ``order``, claimed in the inbox in
    one transaction with their tenants bound, then handed to ``use`` (fresh ones only)."""

    async def handle_batch(events: Sequence[ReceivedEvent]) -> None:
        chosen = [e for e in events if wanted is None or wanted(e)]
        if order is not None:
            chosen.sort(key=order)
        if not chosen:
            return
        async with inbox.claiming(db, chosen) as (session, fresh):
            if fresh:
                await use(session, fresh)

    return handle_batch


def each_event(handle: EventHandler) -> BatchUse:
    """Apply ``handle`` to each claimed event in turn, with only that event's tenant bound
    while it runs and its own span."""

    async def use(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        for event in events:
            with event_span(event, batch_size=len(events)):
                await bind_tenant(session, event.tenant_id)
                await handle(session, event)

    return use


def transactional_handler(db: Database, inbox: Inbox, handle: EventHandler) -> BatchHandler:
    """One transaction per batch, each event handled alone inside it (redeliveries skipped)."""
    return claimed_batch(db, inbox, each_event(handle))
