"""Subjects, durable consumers, and events <-> domain for the ingest service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.convert import (
    provider_to_proto,
    record_to_proto,
    row_to_proto,
    tenant_to_proto,
)
from services.ingest.domain.alert_events import StoredAlert
from services.ingest.domain.records import AlertRecord
from services.ingest.domain.reset_policy import ClosedTicket
from services.ingest.domain.tenants import Tenant
from services.ingest.errors import UnstorableAlert
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
    envelope_subject,
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

TicketClosedHandler = Callable[[AsyncSession, str, ClosedTicket], Awaitable[None]]
#: Mirrors one window decision onto a stored alert: (session, alert id, suppressed, window).
SuppressionWriter = Callable[[AsyncSession, str, bool, str | None], Awaitable[None]]


def tenant_changed(tenant: Tenant, *, created: bool) -> Envelope:
    """``tenant.changed`` for a tenant just created or updated."""
    change = events_pb2.TENANT_CHANGE_CREATED if created else events_pb2.TENANT_CHANGE_UPDATED
    return new_envelope(
        tenant_id=str(tenant.id),
        event_type="tenant.changed",
        payload=events_pb2.TenantChanged(change=change, tenant=tenant_to_proto(tenant)),
        producer=PRODUCER,
        # One tenant's changes are applied in order (one partition).
        ordering_key=str(tenant.id),
    )


def alert_received(record: AlertRecord) -> Envelope:
    """``alert.received`` for a record about to be stored (its event id is the alert's)."""
    return new_envelope(
        tenant_id=record.tenant_id,
        event_type="alert.received",
        payload=events_pb2.AlertReceived(alert=record_to_proto(record)),
        producer=PRODUCER,
        ordering_key=record.series_key,
        event_id=record.alert_id,
    )


def received_event_rows(
    records: Sequence[AlertRecord], headers: dict[str, str]
) -> list[dict[str, Any]]:
    """The ``alert.received`` outbox rows of ``records``; UnstorableAlert if one cannot be
    built (text a protobuf cannot encode), before the records join anyone's batch."""
    try:
        return [_event_row(record, headers) for record in records]
    except (UnicodeError, ValueError) as exc:
        raise UnstorableAlert("the alerts of this request cannot be encoded as events") from exc


def _event_row(record: AlertRecord, headers: dict[str, str]) -> dict[str, Any]:
    envelope = alert_received(record)
    return {
        "integration_id": record.integration_id,
        "delivery_key": record.delivery_key,
        "event_id": envelope.event_id,
        "tenant_id": record.tenant_id,
        "subject": envelope_subject(envelope),
        "type": envelope.type,
        "envelope": envelope.SerializeToString(),
        "headers": headers,
    }


def reset_outcome(row: StoredAlert, *, completed_at: datetime) -> Envelope:
    """``alert.reset_outcome`` for an alert event whose reset reached a final state."""
    alert = row_to_proto(row)
    return new_envelope(
        tenant_id=str(row.tenant_id),
        event_type=RESET_OUTCOME,
        payload=events_pb2.AlertResetOutcome(
            alert_id=alert.alert_id,
            series_key=alert.series_key,
            integration_id=alert.integration_id,
            provider=provider_to_proto(row.provider),
            ticket_id=alert.outbound_reset.ticket_id,
            outbound_reset=alert.outbound_reset,
            complete_time=to_timestamp(completed_at),
        ),
        producer=PRODUCER,
        ordering_key=alert.series_key,
    )


def closed_ticket(closed: ticket_events.TicketClosed) -> ClosedTicket:
    """The domain view of a ``ticket.closed`` payload."""
    return ClosedTicket(
        ticket_id=closed.ticket.id,
        reset_alert=closed.reset_alert,
        series_keys=tuple(closed.linked_series_keys),
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
        closed = unpack(event.envelope, ticket_events.TicketClosed)
        await handle(session, event.tenant_id, closed_ticket(closed))

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
    mark: SuppressionWriter,
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
            await mark(
                session,
                decision.alert.alert_id,
                suppressed,
                decision.decision.window_id if suppressed else None,
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
