"""Glue between a batch consumer and a service: one transaction per batch, inbox included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.consumer import BatchHandler
from triage.runtime.db import Database, bind_tenant
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox
from triage.runtime.telemetry import extract_context

_tracer = trace.get_tracer("triage.consume")
EventHandler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]


def transactional_handler(db: Database, inbox: Inbox, handle: EventHandler) -> BatchHandler:
    """Handle a batch in one transaction; each event's tenant is bound before its effects.

    An event whose id the inbox already holds is skipped, so a redelivery (after a crash
    between commit and ack, or a duplicate publish) has no second effect.
    """

    async def handle_batch(events: Sequence[ReceivedEvent]) -> None:
        batch = trace.get_current_span().get_span_context()
        links = [trace.Link(batch)] if batch.is_valid and len(events) > 1 else []
        async with db.transaction(None) as session:
            for event in events:
                # Each event's work (its SQL, the events it stages) continues its own trace,
                # also when it shares a batch transaction with other alerts' events.
                with _tracer.start_as_current_span(
                    f"handle {event.type}",
                    context=extract_context(event.headers) if len(events) > 1 else None,
                    kind=trace.SpanKind.CONSUMER,
                    links=links,
                    attributes={"triage.event_id": event.event_id},
                ):
                    await bind_tenant(session, event.tenant_id)
                    claimed = await inbox.claim(
                        session, event_id=event.event_id, tenant_id=event.tenant_id
                    )
                    if claimed:
                        await handle(session, event)

    return handle_batch
