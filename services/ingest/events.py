"""Subjects, durable consumers, and events <-> records for the ingest service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.mapping import provider_to_proto, row_to_proto
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2
from triage.rules.v1 import events_pb2 as rule_events
from triage.rules.v1 import resources_pb2 as rule_pb
from triage.runtime import (
    BatchConsumer,
    Bus,
    Database,
    Inbox,
    ReceivedEvent,
    claimed_batch,
    new_envelope,
    to_timestamp,
    transactional_handler,
    unpack,
)
from triage.tickets.v1 import events_pb2 as ticket_events

PRODUCER = "ingest"
TICKET_CLOSED_SUBJECT = "triage.ticket.closed.>"
OUTBOUND_RESET_DURABLE = "ingest-outbound-reset"
RESET_OUTCOME = "alert.reset_outcome"

TicketClosedHandler = Callable[[AsyncSession, str, ticket_events.TicketClosed], Awaitable[None]]


def reset_outcome(row: Mapping[Any, Any], *, completed_at: datetime) -> Envelope:
    """``alert.reset_outcome`` for an alert event whose reset reached a final state."""
    alert = row_to_proto(row)
    return new_envelope(
        tenant_id=str(row["tenant_id"]),
        event_type=RESET_OUTCOME,
        payload=events_pb2.AlertResetOutcome(
            alert_id=alert.alert_id,
            series_key=alert.series_key,
            integration_id=alert.integration_id,
            provider=provider_to_proto(row["provider"]),
            ticket_id=alert.outbound_reset.ticket_id,
            outbound_reset=alert.outbound_reset,
            complete_time=to_timestamp(completed_at),
        ),
        producer=PRODUCER,
        ordering_key=alert.series_key,
    )


def ticket_closed_consumer(
    bus: Bus,
    db: Database,
    inbox: Table,
    handle: TicketClosedHandler,
    *,
    batch_size: int = 256,
    max_deliveries: int = 10,
) -> BatchConsumer:
    """The durable consumer of ``ticket.closed`` that requests outbound resets."""

    async def on_event(session: AsyncSession, event: ReceivedEvent) -> None:
        await handle(session, event.tenant_id, unpack(event.envelope, ticket_events.TicketClosed))

    return BatchConsumer(
        bus,
        db,
        service=PRODUCER,
        durable=OUTBOUND_RESET_DURABLE,
        filter_subjects=[TICKET_CLOSED_SUBJECT],
        handler=transactional_handler(db, Inbox(inbox, OUTBOUND_RESET_DURABLE), on_event),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
    )


ROUTED_SUBJECT = "triage.alert.routed.>"
SUPPRESSION_DURABLE = "ingest-suppression"


def suppression_consumer(
    bus: Bus,
    db: Database,
    inbox: Table,
    alerts: Table,
    *,
    batch_size: int = 256,
    max_deliveries: int = 10,
) -> BatchConsumer:
    """Mirrors the rules' window decisions onto the stored alert: suppressed by window W,
    or routed after all when W ended (ordinary routed alerts need no write)."""

    def routed(event: ReceivedEvent) -> rule_events.AlertRouted:
        return event.memo("routed", lambda: unpack(event.envelope, rule_events.AlertRouted))

    def changes_stored(event: ReceivedEvent) -> bool:
        # Almost every routed alert needs no write here: decided before any transaction.
        decision = routed(event)
        return (
            decision.decision.kind == rule_pb.DECISION_KIND_SUPPRESSED
            or decision.cause == rule_events.ROUTING_CAUSE_WINDOW_ENDED
        )

    async def use(session: AsyncSession, fresh: Sequence[ReceivedEvent]) -> None:
        for event in fresh:
            decision = routed(event)
            suppressed = decision.decision.kind == rule_pb.DECISION_KIND_SUPPRESSED
            await session.execute(
                update(alerts)
                .where(alerts.c.id == decision.alert.alert_id)
                .values(
                    suppressed=suppressed,
                    suppression_window_id=decision.decision.window_id if suppressed else None,
                )
            )

    handle_batch = claimed_batch(db, Inbox(inbox, SUPPRESSION_DURABLE), use, wanted=changes_stored)

    return BatchConsumer(
        bus,
        db,
        service=PRODUCER,
        durable=SUPPRESSION_DURABLE,
        filter_subjects=[ROUTED_SUBJECT],
        handler=handle_batch,
        batch_size=batch_size,
        max_deliveries=max_deliveries,
    )
