"""``sla.threshold``, ``sla.breached`` and ``sla.cancelled`` as notify sees them."""

from __future__ import annotations

from services.notify.convert.seen import (
    Seen,
    build_message,
    message_fields,
    priority_name,
    priority_of,
)
from services.notify.domain.model import NotificationMessage, Severity
from services.notify.domain.policy import SLA_BREACHED, SLA_CANCELLED, SLA_THRESHOLD, EventFacts
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime import from_timestamp, unpack
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb

SLA_TYPES = (SLA_THRESHOLD, SLA_BREACHED, SLA_CANCELLED)


def _target(kind: sla_pb.SlaTargetKind.ValueType) -> str:
    """``first_response`` for SLA_TARGET_KIND_FIRST_RESPONSE."""
    return sla_pb.SlaTargetKind.Name(kind).removeprefix("SLA_TARGET_KIND_").lower()


def _ref_fields(ref: sla_pb.SlaTicketRef) -> list[tuple[str, str]]:
    return [
        ("Ticket", f"#{ref.number}" if ref.number else ""),
        ("Client", ref.client_name or ref.client_id),
        ("Priority", priority_name(ref.priority)),
        ("Queue", ref.queue),
        ("Assignee", ref.assignee),
    ]


def sla_seen(envelope: Envelope) -> Seen:
    """What notify sees in one of :data:`SLA_TYPES`."""
    if envelope.type == SLA_CANCELLED:
        return _cancelled(envelope)
    payload: sla_events.SlaThreshold | sla_events.SlaBreached
    if envelope.type == SLA_THRESHOLD:
        threshold = unpack(envelope, sla_events.SlaThreshold)
        payload, headline = threshold, f"SLA {threshold.percent}% used"
    else:
        payload, headline = unpack(envelope, sla_events.SlaBreached), "SLA breached"
    ref = payload.ticket
    target = _target(payload.target_kind)
    due = from_timestamp(payload.due_time).isoformat() if payload.HasField("due_time") else ""
    priority = priority_of(ref.priority)
    breached = envelope.type == SLA_BREACHED
    severity = int(Severity.HIGH) if breached else (6 - priority if priority else 3)
    notify = [action.notify for action in payload.actions if action.HasField("notify")]
    targets = tuple(channel for action in notify for channel in action.channel_ids)

    def message() -> NotificationMessage:
        return build_message(
            envelope,
            event_type=envelope.type,
            severity=severity,
            priority=priority,
            title=f"{headline} ({target}): Ticket #{ref.number} {ref.title}",
            body=f"The {target} target is due at {due}." if due else headline,
            fields=message_fields([*_ref_fields(ref), ("Due", due)]),
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
    return Seen(facts, message, ticket_id=ref.ticket_id or None)


def _cancelled(envelope: Envelope) -> Seen:
    # No outcome and no actions: news, not an alarm. It names no channels, so only a
    # policy that selects sla.cancelled delivers it.
    cancelled = unpack(envelope, sla_events.SlaCancelled)
    ref = cancelled.ticket
    target = _target(cancelled.target_kind).replace("_", " ")
    priority = priority_of(ref.priority)
    severity = int(Severity.INFO)
    merged = cancelled.reason == sla_events.SLA_CANCEL_REASON_MERGED
    into = f"#{cancelled.merged_into_ticket_number}" if cancelled.merged_into_ticket_number else ""
    why = f"merged into {into or 'another ticket'}" if merged else ""

    def message() -> NotificationMessage:
        at = (
            from_timestamp(cancelled.cancel_time).isoformat()
            if cancelled.HasField("cancel_time")
            else ""
        )
        due = (
            from_timestamp(cancelled.due_time).isoformat() if cancelled.HasField("due_time") else ""
        )
        title = f"SLA {target} cancelled for #{ref.number}" + (f": {why}" if why else "")
        body = f"The {target} clock of ticket #{ref.number} {ref.title} ended with no outcome"
        body += f": the ticket was {why}, which carries the work from then on." if why else "."
        return build_message(
            envelope,
            event_type=SLA_CANCELLED,
            severity=severity,
            priority=priority,
            title=title,
            body=body,
            fields=message_fields(
                [*_ref_fields(ref), ("Merged into", into), ("Due", due), ("Cancelled", at)]
            ),
        )

    facts = EventFacts(
        event_type=SLA_CANCELLED,
        severity=severity,
        priority=priority,
        client_id=ref.client_id or None,
        queue=ref.queue or None,
    )
    return Seen(facts, message, ticket_id=ref.ticket_id or None)
