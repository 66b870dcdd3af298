"""Subjects and consumers of the notify service, and envelope <-> notification mapping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.convert.deliveries import delivery_to_proto, error_class_enum
from services.notify.convert.seen import (
    Seen,
    build_message,
    message_fields,
    priority_name,
    priority_of,
    severity_of,
)
from services.notify.convert.sla_events import SLA_TYPES, sla_seen
from services.notify.domain.model import NotificationMessage, Severity
from services.notify.domain.notifiable import Notifiable
from services.notify.domain.policy import (
    ALERT_RESET_FAILED,
    ALERT_ROUTED,
    SLA_CANCELLED,
    EventFacts,
    plan_targets,
)
from services.notify.domain.records import AttemptRow, DeliveryRow
from services.notify.service.planning import create_deliveries_batch
from services.notify.store.policies import enabled_policies
from services.notify.store.zones import remember_zone
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.notify.v1 import events_pb2 as notify_events
from triage.rules.v1 import events_pb2 as rules_events
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.runtime import (
    BatchConsumer,
    BatchHandler,
    Bus,
    Database,
    Inbox,
    ReceivedEvent,
    after_commit,
    new_envelope,
    transactional_handler,
    unpack,
)
from triage.tickets.v1 import events_pb2 as ticket_events
from triage.tickets.v1 import resources_pb2 as tickets_pb

PRODUCER = "notify"
DELIVERED = "notify.delivered"
FAILED = "notify.failed"

#: Durable consumer name -> subject filters (``{tenant}`` is ``*`` in production).
CONSUMERS: dict[str, tuple[str, ...]] = {
    "notify-alerts": ("triage.alert.routed.{tenant}", "triage.alert.reset_outcome.{tenant}"),
    "notify-tickets": ("triage.ticket.*.{tenant}",),
    "notify-sla": (
        "triage.sla.threshold.{tenant}",
        "triage.sla.breached.{tenant}",
        "triage.sla.cancelled.{tenant}",
    ),
}

_TICKET_TYPES: dict[str, type[Message]] = {
    "ticket.opened": ticket_events.TicketOpened,
    "ticket.occurred": ticket_events.TicketOccurred,
    "ticket.updated": ticket_events.TicketUpdated,
    "ticket.commented": ticket_events.TicketCommented,
    "ticket.closed": ticket_events.TicketClosed,
    "ticket.reopened": ticket_events.TicketReopened,
}
#: Events that name no channels of their own: only a policy can want them.
_POLICY_ONLY = frozenset({*_TICKET_TYPES, SLA_CANCELLED})


def build_consumers(
    *,
    bus: Bus,
    db: Database,
    inbox: Table,
    wake: Callable[[], None],
    clock: Callable[[], datetime],
    tenant: str = "*",
    durable_suffix: str = "",
    batch_size: int = 256,
    max_deliveries: int = 10,
    fetch_timeout_seconds: float = 1.0,
) -> list[BatchConsumer]:
    """One durable pull consumer per upstream stream, one transaction per fetched batch,
    each claiming its events in ``inbox``."""
    out: list[BatchConsumer] = []
    for durable, subjects in CONSUMERS.items():
        name = durable + durable_suffix
        out.append(
            BatchConsumer(
                bus,
                db,
                service=PRODUCER,
                durable=name,
                filter_subjects=[s.format(tenant=tenant) for s in subjects],
                handler=batch_handler(db, Inbox(inbox, name), wake=wake, clock=clock),
                batch_size=batch_size,
                max_deliveries=max_deliveries,
                fetch_timeout_seconds=fetch_timeout_seconds,
            )
        )
    zones = "notify-tenants" + durable_suffix
    out.append(
        BatchConsumer(
            bus,
            db,
            service=PRODUCER,
            durable=zones,
            filter_subjects=[f"triage.tenant.changed.{tenant}"],
            handler=transactional_handler(db, Inbox(inbox, zones), _remember_zone),
            max_deliveries=max_deliveries,
            fetch_timeout_seconds=fetch_timeout_seconds,
        )
    )
    return out


async def _remember_zone(session: AsyncSession, event: ReceivedEvent) -> None:
    changed = unpack(event.envelope, ingest_events.TenantChanged)
    if not changed.tenant.time_zone:
        return
    await remember_zone(session, tenant_id=event.tenant_id, time_zone=changed.tenant.time_zone)


def batch_handler(
    db: Database, inbox: Inbox, *, wake: Callable[[], None], clock: Callable[[], datetime]
) -> BatchHandler:
    """One transaction per batch, as :func:`triage.runtime.consume.transactional_handler`.

    The batch's tenants are bound together and their policies read once and matched in
    Python. Only events with targets are claimed in the inbox (one statement; a redelivered
    event is skipped) and reach the channel lookup and delivery insert: an event nothing
    wants (most alert and occurrence events) writes nothing, so its redelivery is harmless.
    """

    async def handle_batch(events: Sequence[ReceivedEvent]) -> None:
        # A ticket event (or sla.cancelled) names no channels of its own: only a policy can
        # want it, so it is decoded only for a tenant with enabled policies (none is the
        # common case).
        policy_only = [e for e in events if e.envelope.type in _POLICY_ONLY]
        items = {
            id(event): item
            for event in events
            if event.envelope.type not in _POLICY_ONLY
            and (item := _seen(event.envelope)) is not None
        }
        if not items and not policy_only:
            return
        async with db.transaction(None, tenants={e.tenant_id for e in events}) as session:
            tenants = {e.tenant_id for e in policy_only} | {
                e.tenant_id for e in events if id(e) in items
            }
            policies = await enabled_policies(session, tenant_ids=sorted(tenants))
            for event in policy_only:
                if policies.get(event.tenant_id) and (item := _seen(event.envelope)) is not None:
                    items[id(event)] = item
            wanted = [
                event
                for event in events
                if id(event) in items
                # Default channels are only known in the planning step: keep those events.
                and (
                    items[id(event)].facts.default_channels
                    or plan_targets(policies.get(event.tenant_id, ()), items[id(event)].facts)
                )
            ]
            if not wanted:
                return
            fresh = await inbox.claim_many(session, wanted)
            planned = [(event.tenant_id, items[id(event)].notifiable()) for event in fresh]
            if await create_deliveries_batch(
                session, items=planned, now=clock(), policies=policies
            ):
                after_commit(session, wake)

    return handle_batch


def notifiable(envelope: Envelope) -> Notifiable | None:
    """What to notify about an envelope, or None if notify ignores it."""
    seen = _seen(envelope)
    return None if seen is None else seen.notifiable()


def _seen(envelope: Envelope) -> Seen | None:
    kind = envelope.type
    if kind == ALERT_ROUTED:
        return _alert_routed(envelope)
    if kind == "alert.reset_outcome":
        return _reset_outcome(envelope)
    if kind in _TICKET_TYPES:
        return _ticket(envelope)  # None for a flapping ticket's per-flap events
    if kind in SLA_TYPES:
        return sla_seen(envelope)
    return None


def _alert_routed(envelope: Envelope) -> Seen | None:
    routed = unpack(envelope, rules_events.AlertRouted)
    decision = routed.decision
    if decision.kind == rules_pb.DECISION_KIND_SUPPRESSED or routed.alert.suppressed:
        return None
    alert = routed.alert
    severity = severity_of(alert.severity)
    priority = priority_of(decision.priority)
    rule_ids = tuple(decision.rule_ids)

    def message() -> NotificationMessage:
        title = (
            decision.rendered_title or f"{alert.device_name or alert.device_id}: {alert.summary}"
        )
        return build_message(
            envelope,
            event_type=ALERT_ROUTED,
            severity=severity,
            priority=priority,
            title=title,
            body=decision.rendered_description or alert.message or alert.summary,
            fields=message_fields(
                [
                    ("Client", alert.client_name or alert.client_id),
                    ("Device", alert.device_name or alert.device_id),
                    ("Condition", alert.condition_name or alert.condition),
                    ("Priority", priority_name(decision.priority)),
                    ("Queue", decision.actions.queue),
                ]
            ),
            url=alert.source_url,
        )

    facts = EventFacts(
        event_type=ALERT_ROUTED,
        severity=severity,
        priority=priority,
        client_id=alert.client_id or None,
        queue=decision.actions.queue or None,
        rule_ids=rule_ids,
        critical=severity >= Severity.CRITICAL or priority == 1,
        target_channel_ids=tuple(decision.actions.notification_channel_ids),
        target_rule_id=rule_ids[0] if rule_ids else None,
    )
    return Seen(facts, message, alert_id=alert.alert_id or None)


def _reset_outcome(envelope: Envelope) -> Seen | None:
    outcome = unpack(envelope, ingest_events.AlertResetOutcome)
    reset = outcome.outbound_reset
    if reset.state != ingest_pb.OUTBOUND_RESET_STATE_FAILED:
        return None

    def message() -> NotificationMessage:
        return build_message(
            envelope,
            event_type=ALERT_RESET_FAILED,
            severity=int(Severity.HIGH),
            priority=None,
            title=f"Resetting the alert in the RMM failed after {reset.attempt_count} attempts",
            body=reset.last_outcome or "The RMM did not accept the reset.",
            fields=message_fields(
                [
                    ("Series", outcome.series_key),
                    ("Ticket", outcome.ticket_id),
                    ("Last response", str(reset.last_response_code or "")),
                ]
            ),
        )

    facts = EventFacts(event_type=ALERT_RESET_FAILED, severity=int(Severity.HIGH))
    return Seen(
        facts, message, ticket_id=outcome.ticket_id or None, alert_id=outcome.alert_id or None
    )


def _starts_flapping(payload: Message) -> bool:
    """Whether a flapping ticket's event is the one that marked it flapping."""
    return (
        isinstance(payload, ticket_events.TicketUpdated)
        and "flapping_since" in payload.changed_paths
        and not payload.before.flapping
    )


def _ticket(envelope: Envelope) -> Seen | None:
    payload: Message = unpack(envelope, _TICKET_TYPES[envelope.type])
    ticket: tickets_pb.Ticket = (
        payload.after
        if isinstance(payload, ticket_events.TicketUpdated)
        else getattr(payload, "ticket")  # noqa: B009
    )
    verb = envelope.type.split(".", 1)[1]
    body = ticket.description
    if ticket.flapping:
        # Flap damping (tickets marks the ticket): one "flapping" notice when the mark is
        # set, nothing for each flap after it; its close after the quiet time notifies.
        if not _starts_flapping(payload):
            return None
        verb = "is flapping"
        body = (
            "The alert keeps triggering and resetting. The ticket stays open; further "
            "flaps are not notified, and it closes once the alert has been quiet."
        )
    elif isinstance(payload, ticket_events.TicketOccurred):
        verb = f"occurred again ({payload.occurrence_count}x)"
    elif isinstance(payload, ticket_events.TicketUpdated):
        verb = "updated: " + ", ".join(payload.changed_paths)
    elif isinstance(payload, ticket_events.TicketCommented):
        body = payload.comment.body
        verb = "commented"
    elif isinstance(payload, ticket_events.TicketClosed):
        body = f"Closed by {payload.actor or 'triage'}."
        if payload.HasField("merged_into"):
            # Not resolved: its alerts, SLA and notifications continue on that ticket.
            into = f"#{payload.merged_into.ticket_number}"
            verb = f"merged into {into}"
            body = (
                f"Merged into ticket {into} by {payload.actor or 'triage'}; work continues there."
            )
    elif isinstance(payload, ticket_events.TicketReopened):
        body = payload.reason or body
    severity = severity_of(ticket.severity)
    priority = priority_of(ticket.priority)

    def message() -> NotificationMessage:
        return build_message(
            envelope,
            event_type=envelope.type,
            severity=severity,
            priority=priority,
            title=f"Ticket #{ticket.number} {verb}: {ticket.title}",
            body=body,
            fields=message_fields(
                [
                    ("Ticket", f"#{ticket.number}" if ticket.number else ""),
                    ("Client", ticket.client_name or ticket.client_id),
                    ("Device", ticket.device_name or ticket.device_id),
                    ("Priority", priority_name(ticket.priority)),
                    ("Queue", ticket.queue),
                    ("Assignee", ticket.assignee),
                ]
            ),
        )

    facts = EventFacts(
        event_type=envelope.type,
        severity=severity,
        priority=priority,
        client_id=ticket.client_id or None,
        queue=ticket.queue or None,
        rule_ids=(ticket.rule_id,) if ticket.rule_id else (),
        critical=severity >= Severity.CRITICAL or priority == 1,
    )
    return Seen(facts, message, ticket_id=ticket.id or None)


def delivered_envelope(
    tenant_id: str, row: DeliveryRow, attempts: Sequence[AttemptRow]
) -> Envelope:
    """``notify.delivered`` for a delivery whose last attempt succeeded."""
    delivery = delivery_to_proto(row, attempts)
    return new_envelope(
        tenant_id=tenant_id,
        event_type=DELIVERED,
        payload=notify_events.NotificationDelivered(delivery=delivery),
        producer=PRODUCER,
        ordering_key=delivery.id,
    )


def failed_envelope(
    tenant_id: str,
    row: DeliveryRow,
    attempts: Sequence[AttemptRow],
    *,
    permanent: bool,
    error_class: str | None,
) -> Envelope:
    """``notify.failed`` for a delivery whose last attempt failed."""
    delivery = delivery_to_proto(row, attempts)
    return new_envelope(
        tenant_id=tenant_id,
        event_type=FAILED,
        payload=notify_events.NotificationFailed(
            delivery=delivery,
            permanent=permanent,
            error_class=error_class_enum(error_class),  # type: ignore[arg-type]
        ),
        producer=PRODUCER,
        ordering_key=delivery.id,
    )
