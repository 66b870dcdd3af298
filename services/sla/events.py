"""Subjects, durable consumers, and events <-> domain for the sla service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.convert import (
    KIND_TO_PB,
    actions_to_proto,
    clock_to_proto,
    stamp,
    ticket_ref,
    ticket_sla_to_proto,
)
from services.sla.domain.effects import (
    Breached,
    Cancelled,
    Met,
    Notice,
    Paused,
    Resumed,
    Started,
    ThresholdReached,
)
from services.sla.domain.ticket import (
    HUMAN_CAUSE,
    ChangeKind,
    TicketChange,
    TicketFacts,
)
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.runtime import (
    BatchConsumer,
    BatchHandler,
    Bus,
    Database,
    Inbox,
    ReceivedEvent,
    claimed_batch,
    from_timestamp,
    new_envelope,
    transactional_handler,
    unpack,
)
from triage.sla.v1 import events_pb2 as pb
from triage.tickets.v1 import events_pb2 as tickets_events
from triage.tickets.v1 import resources_pb2 as tickets_pb

PRODUCER = "sla"
#: The ticket events that can move a clock. ``ticket.occurred`` (an alert repeating on an
#: open ticket: most of the stream) moves none, so the consumer never receives it.
CLOCK_EVENT_KINDS = ("opened", "updated", "commented", "closed", "reopened")
TICKET_SUBJECTS = tuple(f"triage.ticket.{kind}.>" for kind in CLOCK_EVENT_KINDS)
TENANT_SUBJECT = "triage.tenant.changed.>"
TICKETS_DURABLE = "sla-tickets"
TENANTS_DURABLE = "sla-tenants"

# --- events in ---------------------------------------------------------------------------------


def _when(message: timestamp_pb2.Timestamp, fallback: datetime) -> datetime:
    return from_timestamp(message) if message.seconds or message.nanos else fallback


def ticket_facts(ticket: tickets_pb.Ticket, fallback: datetime) -> TicketFacts:
    """The fields of a ticket the sla service keeps."""
    opened = _when(ticket.create_time, fallback)
    return TicketFacts(
        ticket_id=ticket.id,
        number=ticket.number,
        title=ticket.title,
        priority=int(ticket.priority),
        status=int(ticket.status),
        client_id=ticket.client_id,
        client_name=ticket.client_name,
        queue=ticket.queue,
        assignee=ticket.assignee,
        reopen_count=ticket.reopen_count,
        opened_at=opened,
        updated_at=_when(ticket.update_time, opened),
    )


def ticket_change(envelope: Envelope) -> TicketChange | None:
    """A ``ticket.*`` envelope reduced to what moves clocks (None for other types)."""
    occurred = from_timestamp(envelope.occurred_time)
    kind = envelope.type.removeprefix("ticket.")
    if kind == "opened":
        opened = unpack(envelope, tickets_events.TicketOpened)
        facts = ticket_facts(opened.ticket, occurred)
        return TicketChange(ChangeKind.OPENED, envelope.event_id, facts.opened_at, facts)
    if kind == "updated":
        updated = unpack(envelope, tickets_events.TicketUpdated)
        facts = ticket_facts(updated.after, occurred)
        return TicketChange(
            ChangeKind.UPDATED,
            envelope.event_id,
            _when(updated.after.update_time, occurred),
            facts,
            before_status=int(updated.before.status),
            before_priority=int(updated.before.priority),
            changed_paths=tuple(updated.changed_paths),
            human=updated.cause == HUMAN_CAUSE,
        )
    if kind == "commented":
        commented = unpack(envelope, tickets_events.TicketCommented)
        return TicketChange(
            ChangeKind.COMMENTED,
            envelope.event_id,
            _when(commented.comment.create_time, occurred),
            ticket_facts(commented.ticket, occurred),
            human=commented.by_human,
            public=commented.public,
        )
    if kind == "closed":
        closed = unpack(envelope, tickets_events.TicketClosed)
        return TicketChange(
            ChangeKind.CLOSED,
            envelope.event_id,
            _when(closed.ticket.close_time, occurred),
            ticket_facts(closed.ticket, occurred),
            auto=closed.auto,
            merged=closed.reason == tickets_pb.CLOSE_REASON_MERGED
            or closed.HasField("merged_into"),
            merged_into_number=closed.merged_into.ticket_number,
            merged_into_id=closed.merged_into.ticket_id,
        )
    if kind == "reopened":
        reopened = unpack(envelope, tickets_events.TicketReopened)
        return TicketChange(
            ChangeKind.REOPENED,
            envelope.event_id,
            _when(reopened.ticket.update_time, occurred),
            ticket_facts(reopened.ticket, occurred),
            human=reopened.cause == HUMAN_CAUSE,
        )
    return None


def tenant_zone(envelope: Envelope) -> str:
    """The time zone a ``tenant.changed`` event carries (empty if none)."""
    return unpack(envelope, ingest_events.TenantChanged).tenant.time_zone


# --- events out --------------------------------------------------------------------------------


def _envelope(tenant_id: str, ticket_id: str, event_type: str, payload: Message) -> Envelope:
    return new_envelope(
        tenant_id=tenant_id,
        event_type=event_type,
        payload=payload,
        producer=PRODUCER,
        ordering_key=ticket_id,
    )


def _started(n: Started) -> Envelope:
    return _envelope(
        n.view.tenant_id,
        n.view.facts.ticket_id,
        "sla.started",
        pb.SlaStarted(ticket_sla=ticket_sla_to_proto(n.view, n.records, n.at)),
    )


def _paused(n: Paused) -> Envelope:
    return _envelope(
        n.view.tenant_id,
        n.view.facts.ticket_id,
        "sla.paused",
        pb.SlaPaused(
            ticket=ticket_ref(n.view.facts),
            target_kinds=[KIND_TO_PB[k] for k in n.kinds],
            pause_time=stamp(n.at),
        ),
    )


def _resumed(n: Resumed) -> Envelope:
    return _envelope(
        n.view.tenant_id,
        n.view.facts.ticket_id,
        "sla.resumed",
        pb.SlaResumed(
            ticket=ticket_ref(n.view.facts),
            clocks=[clock_to_proto(r, n.at) for r in n.records],
            resume_time=stamp(n.at),
        ),
    )


def _threshold(n: ThresholdReached) -> Envelope:
    return _envelope(
        n.view.tenant_id,
        n.view.facts.ticket_id,
        "sla.threshold",
        pb.SlaThreshold(
            ticket=ticket_ref(n.view.facts),
            target_kind=KIND_TO_PB[n.kind],
            percent=n.percent,
            threshold_time=stamp(n.due),
            fire_time=stamp(n.fired),
            late=n.late,
            due_time=stamp(n.target_due),
            actions=actions_to_proto(n.actions),
        ),
    )


def _breached(n: Breached) -> Envelope:
    return _envelope(
        n.view.tenant_id,
        n.view.facts.ticket_id,
        "sla.breached",
        pb.SlaBreached(
            ticket=ticket_ref(n.view.facts),
            target_kind=KIND_TO_PB[n.kind],
            due_time=stamp(n.due),
            breach_time=stamp(n.recorded),
            late=n.late,
            actions=actions_to_proto(n.actions),
        ),
    )


def _met(n: Met) -> Envelope:
    return _envelope(
        n.view.tenant_id,
        n.view.facts.ticket_id,
        "sla.met",
        pb.SlaMet(
            ticket=ticket_ref(n.view.facts),
            target_kind=KIND_TO_PB[n.record.kind],
            met_time=stamp(n.at),
            due_time=stamp(n.record.clock.due_at),
            after_breach=n.after_breach,
            clock=clock_to_proto(n.record, n.at),
        ),
    )


def _cancelled(n: Cancelled) -> Envelope:
    return _envelope(
        n.view.tenant_id,
        n.view.facts.ticket_id,
        "sla.cancelled",
        pb.SlaCancelled(
            ticket=ticket_ref(n.view.facts),
            target_kind=KIND_TO_PB[n.record.kind],
            cancel_time=stamp(n.at),
            reason=pb.SLA_CANCEL_REASON_MERGED,
            merged_into_ticket_id=n.merged_into_id,
            merged_into_ticket_number=n.merged_into_number,
            due_time=stamp(n.due),
            clock=clock_to_proto(n.record, n.at),
        ),
    )


def envelope(notice: Notice) -> Envelope:
    """The ``sla.*`` envelope announcing ``notice``."""
    if isinstance(notice, Started):
        return _started(notice)
    if isinstance(notice, Paused):
        return _paused(notice)
    if isinstance(notice, Resumed):
        return _resumed(notice)
    if isinstance(notice, ThresholdReached):
        return _threshold(notice)
    if isinstance(notice, Breached):
        return _breached(notice)
    if isinstance(notice, Cancelled):
        return _cancelled(notice)
    return _met(notice)


# --- consumers ---------------------------------------------------------------------------------

ChangesHandler = Callable[
    [AsyncSession, Sequence[tuple[str, TicketChange, dict[str, str] | None]]], Awaitable[None]
]
ZoneHandler = Callable[[AsyncSession, str, str], Awaitable[None]]
_TRACE_KEYS = ("traceparent", "tracestate", "baggage")


def _change(event: ReceivedEvent) -> TicketChange | None:
    """The event's clock-moving change, decoded once for the sort and the handler."""
    return event.memo("change", lambda: ticket_change(event.envelope))


def _ticket_order(event: ReceivedEvent) -> str:
    try:
        change = _change(event)
    except ValueError:
        return ""
    return "" if change is None else f"{event.tenant_id}/{change.ticket.ticket_id}"


def changes_handler(db: Database, inbox: Inbox, on_changes: ChangesHandler) -> BatchHandler:
    """The runtime's claimed batch (:func:`triage.runtime.consume.claimed_batch`): events
    sorted by ticket, claimed in one transaction, and the clock-moving changes handed over
    together, in order, each with its own trace context."""

    async def use(session: AsyncSession, fresh: Sequence[ReceivedEvent]) -> None:
        single = len(fresh) == 1
        changes = [
            (
                event.tenant_id,
                change,
                None
                if single
                else {k: v for k in _TRACE_KEYS if (v := event.headers.get(k)) is not None},
            )
            for event in fresh
            if (change := _change(event)) is not None and change.ticket.ticket_id
        ]
        if changes:
            await on_changes(session, changes)

    return claimed_batch(db, inbox, use, order=_ticket_order)


def ticket_consumer(
    bus: Bus,
    db: Database,
    inbox_table: Table,
    on_changes: ChangesHandler,
    *,
    batch_size: int = 256,
    max_deliveries: int = 10,
    fetch_timeout_seconds: float = 1.0,
) -> BatchConsumer:
    """The durable consumer of the clock-moving ``ticket.*`` events, a transaction a batch."""
    return BatchConsumer(
        bus,
        db,
        service=PRODUCER,
        durable=TICKETS_DURABLE,
        filter_subjects=list(TICKET_SUBJECTS),
        handler=changes_handler(db, Inbox(inbox_table, TICKETS_DURABLE), on_changes),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )


def tenant_consumer(
    bus: Bus,
    db: Database,
    inbox_table: Table,
    on_zone: ZoneHandler,
    *,
    fetch_timeout_seconds: float = 1.0,
) -> BatchConsumer:
    """The durable consumer of ``tenant.changed`` (the zone of default calendars)."""

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        if event.type == "tenant.changed" and (zone := tenant_zone(event.envelope)):
            await on_zone(session, event.tenant_id, zone)

    return BatchConsumer(
        bus,
        db,
        service=PRODUCER,
        durable=TENANTS_DURABLE,
        filter_subjects=[TENANT_SUBJECT],
        handler=transactional_handler(db, Inbox(inbox_table, TENANTS_DURABLE), handle),
        fetch_timeout_seconds=fetch_timeout_seconds,
    )
