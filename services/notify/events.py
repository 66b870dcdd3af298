"""Subjects and consumers of the notify service, and envelope <-> notification mapping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.convert.deliveries import delivery_to_proto, error_class_enum
from services.notify.domain.model import NotificationMessage, Severity
from services.notify.domain.notifiable import Notifiable
from services.notify.domain.policy import (
    ALERT_RESET_FAILED,
    ALERT_ROUTED,
    SLA_BREACHED,
    SLA_THRESHOLD,
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
    from_timestamp,
    new_envelope,
    transactional_handler,
    unpack,
)
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb
from triage.tickets.v1 import events_pb2 as ticket_events
from triage.tickets.v1 import resources_pb2 as tickets_pb

PRODUCER = "notify"
DELIVERED = "notify.delivered"
FAILED = "notify.failed"

#: Durable consumer name -> subject filters (``{tenant}`` is ``*`` in production).
CONSUMERS: dict[str, tuple[str, ...]] = {
    "notify-alerts": ("triage.alert.routed.{tenant}", "triage.alert.reset_outcome.{tenant}"),
    "notify-tickets": ("triage.ticket.*.{tenant}",),
    "notify-sla": ("triage.sla.threshold.{tenant}", "triage.sla.breached.{tenant}"),
}

_TICKET_TYPES: dict[str, type[Message]] = {
    "ticket.opened": ticket_events.TicketOpened,
    "ticket.occurred": ticket_events.TicketOccurred,
    "ticket.updated": ticket_events.TicketUpdated,
    "ticket.commented": ticket_events.TicketCommented,
    "ticket.closed": ticket_events.TicketClosed,
    "ticket.reopened": ticket_events.TicketReopened,
}


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
        # A ticket event names no channels of its own: only a policy can want it, so it is
        # decoded only for a tenant with enabled policies (none is the common case).
        tickets = [e for e in events if e.envelope.type in _TICKET_TYPES]
        items = {
            id(event): item
            for event in events
            if event.envelope.type not in _TICKET_TYPES
            and (item := _seen(event.envelope)) is not None
        }
        if not items and not tickets:
            return
        async with db.transaction(None, tenants={e.tenant_id for e in events}) as session:
            tenants = {e.tenant_id for e in tickets} | {
                e.tenant_id for e in events if id(e) in items
            }
            policies = await enabled_policies(session, tenant_ids=sorted(tenants))
            for event in tickets:
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


def _severity(value: int) -> int:
    return value if 1 <= value <= 5 else int(Severity.MEDIUM)


def _priority(value: int) -> int | None:
    return value if 1 <= value <= 5 else None


def _priority_name(value: int) -> str:
    return f"P{value}" if 1 <= value <= 5 else ""


def _fields(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return {k: v for k, v in pairs if v}


@dataclass(frozen=True, slots=True)
class _Seen:
    """An event's facts, with its message built only for an event that is notified (most
    events match no policy: their messages would be built for nothing)."""

    facts: EventFacts
    message: Callable[[], NotificationMessage]
    ticket_id: str | None = None
    alert_id: str | None = None

    def notifiable(self) -> Notifiable:
        """The event with its message, for planning its deliveries."""
        return Notifiable(
            self.message(), self.facts, ticket_id=self.ticket_id, alert_id=self.alert_id
        )


def notifiable(envelope: Envelope) -> Notifiable | None:
    """What to notify about an envelope, or None if notify ignores it."""
    seen = _seen(envelope)
    return None if seen is None else seen.notifiable()


def _seen(envelope: Envelope) -> _Seen | None:
    kind = envelope.type
    if kind == ALERT_ROUTED:
        return _alert_routed(envelope)
    if kind == "alert.reset_outcome":
        return _reset_outcome(envelope)
    if kind in _TICKET_TYPES:
        return _ticket(envelope)  # None for a flapping ticket's per-flap events
    if kind in (SLA_THRESHOLD, SLA_BREACHED):
        return _sla(envelope)
    return None


def _message(
    envelope: Envelope,
    *,
    event_type: str,
    severity: int,
    priority: int | None,
    title: str,
    body: str,
    fields: dict[str, str],
    url: str | None = None,
) -> NotificationMessage:
    return NotificationMessage(
        event_id=envelope.event_id,
        event_type=event_type,
        tenant_id=envelope.tenant_id,
        occurred_at=from_timestamp(envelope.occurred_time),
        severity=severity,
        priority=priority,
        title=" ".join(title.split())[:300] or event_type,
        body=body,
        url=url or None,
        fields=fields,
    )


def _alert_routed(envelope: Envelope) -> _Seen | None:
    routed = unpack(envelope, rules_events.AlertRouted)
    decision = routed.decision
    if decision.kind == rules_pb.DECISION_KIND_SUPPRESSED or routed.alert.suppressed:
        return None
    alert = routed.alert
    severity = _severity(alert.severity)
    priority = _priority(decision.priority)
    rule_ids = tuple(decision.rule_ids)

    def message() -> NotificationMessage:
        title = (
            decision.rendered_title or f"{alert.device_name or alert.device_id}: {alert.summary}"
        )
        return _message(
            envelope,
            event_type=ALERT_ROUTED,
            severity=severity,
            priority=priority,
            title=title,
            body=decision.rendered_description or alert.message or alert.summary,
            fields=_fields(
                [
                    ("Client", alert.client_name or alert.client_id),
                    ("Device", alert.device_name or alert.device_id),
                    ("Condition", alert.condition_name or alert.condition),
                    ("Priority", _priority_name(decision.priority)),
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
    return _Seen(facts, message, alert_id=alert.alert_id or None)


def _reset_outcome(envelope: Envelope) -> _Seen | None:
    outcome = unpack(envelope, ingest_events.AlertResetOutcome)
    reset = outcome.outbound_reset
    if reset.state != ingest_pb.OUTBOUND_RESET_STATE_FAILED:
        return None

    def message() -> NotificationMessage:
        return _message(
            envelope,
            event_type=ALERT_RESET_FAILED,
            severity=int(Severity.HIGH),
            priority=None,
            title=f"Resetting the alert in the RMM failed after {reset.attempt_count} attempts",
            body=reset.last_outcome or "The RMM did not accept the reset.",
            fields=_fields(
                [
                    ("Series", outcome.series_key),
                    ("Ticket", outcome.ticket_id),
                    ("Last response", str(reset.last_response_code or "")),
                ]
            ),
        )

    facts = EventFacts(event_type=ALERT_RESET_FAILED, severity=int(Severity.HIGH))
    return _Seen(
        facts, message, ticket_id=outcome.ticket_id or None, alert_id=outcome.alert_id or None
    )


def _starts_flapping(payload: Message) -> bool:
    """Whether a flapping ticket's event is the one that marked it flapping."""
    return (
        isinstance(payload, ticket_events.TicketUpdated)
        and "flapping_since" in payload.changed_paths
        and not payload.before.flapping
    )


def _ticket(envelope: Envelope) -> _Seen | None:
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
    severity = _severity(ticket.severity)
    priority = _priority(ticket.priority)

    def message() -> NotificationMessage:
        return _message(
            envelope,
            event_type=envelope.type,
            severity=severity,
            priority=priority,
            title=f"Ticket #{ticket.number} {verb}: {ticket.title}",
            body=body,
            fields=_fields(
                [
                    ("Ticket", f"#{ticket.number}" if ticket.number else ""),
                    ("Client", ticket.client_name or ticket.client_id),
                    ("Device", ticket.device_name or ticket.device_id),
                    ("Priority", _priority_name(ticket.priority)),
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
    return _Seen(facts, message, ticket_id=ticket.id or None)


def _sla(envelope: Envelope) -> _Seen:
    payload: sla_events.SlaThreshold | sla_events.SlaBreached
    if envelope.type == SLA_THRESHOLD:
        threshold = unpack(envelope, sla_events.SlaThreshold)
        payload, headline = threshold, f"SLA {threshold.percent}% used"
    else:
        payload, headline = unpack(envelope, sla_events.SlaBreached), "SLA breached"
    ref = payload.ticket
    target = sla_pb.SlaTargetKind.Name(payload.target_kind).removeprefix("SLA_TARGET_KIND_")
    due = from_timestamp(payload.due_time).isoformat() if payload.HasField("due_time") else ""
    priority = _priority(ref.priority)
    breached = envelope.type == SLA_BREACHED
    severity = int(Severity.HIGH) if breached else (6 - priority if priority else 3)
    notify = [action.notify for action in payload.actions if action.HasField("notify")]
    targets = tuple(channel for action in notify for channel in action.channel_ids)

    def message() -> NotificationMessage:
        return _message(
            envelope,
            event_type=envelope.type,
            severity=severity,
            priority=priority,
            title=f"{headline} ({target.lower()}): Ticket #{ref.number} {ref.title}",
            body=f"The {target.lower()} target is due at {due}." if due else headline,
            fields=_fields(
                [
                    ("Ticket", f"#{ref.number}" if ref.number else ""),
                    ("Client", ref.client_name or ref.client_id),
                    ("Priority", _priority_name(ref.priority)),
                    ("Queue", ref.queue),
                    ("Assignee", ref.assignee),
                    ("Due", due),
                ]
            ),
        )

    facts = EventFacts(
        event_type=envelope.type,
        severity=severity,
        priority=priority,
        client_id=ref.client_id or None,
        queue=ref.queue or None,
        critical=breached or priority == 1,
        target_channel_ids=targets,
        default_channels=any(action.default_channels for action in notify),
    )
    return _Seen(facts, message, ticket_id=ref.ticket_id or None)


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
