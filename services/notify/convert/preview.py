"""Sample events for message previews: one plausible envelope per notification event type,
mapped to a message by the same code real events go through (``events.notifiable``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import events_pb2 as rules_events
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.runtime import new_envelope, to_timestamp
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb
from triage.tickets.v1 import events_pb2 as ticket_events
from triage.tickets.v1 import resources_pb2 as tickets_pb

SAMPLE_TICKET_ID = "00000000-0000-7000-8000-000000000042"


def _ticket(now: datetime) -> tickets_pb.Ticket:
    return tickets_pb.Ticket(
        id=SAMPLE_TICKET_ID,
        number=1042,
        title="SRV-DC01: Disk C: low on space",
        description="Disk C: has 4% free (12.1 GB of 300 GB).",
        client_id="acme",
        client_name="Acme Dental",
        device_id="dev-17",
        device_name="SRV-DC01",
        priority=tickets_pb.PRIORITY_P2,
        status=tickets_pb.TICKET_STATUS_NEW,
        queue="servers",
        assignee="sam@msp.example",
        severity=ingest_pb.SEVERITY_HIGH,
        create_time=to_timestamp(now - timedelta(minutes=20)),
    )


def _sla_ref() -> sla_pb.SlaTicketRef:
    return sla_pb.SlaTicketRef(
        ticket_id=SAMPLE_TICKET_ID,
        number=1042,
        title="SRV-DC01: Disk C: low on space",
        priority=tickets_pb.PRIORITY_P2,
        client_id="acme",
        client_name="Acme Dental",
        queue="servers",
        assignee="sam@msp.example",
    )


def _payload(event_type: str, now: datetime) -> object:
    ticket = _ticket(now)
    due = to_timestamp(now + timedelta(minutes=30))
    if event_type == "alert.routed":
        return rules_events.AlertRouted(
            alert=ingest_pb.AlertEvent(
                alert_id="00000000-0000-7000-8000-000000000007",
                severity=ingest_pb.SEVERITY_HIGH,
                summary="Disk C: low on space",
                message="Disk C: has 4% free (12.1 GB of 300 GB).",
                client_id="acme",
                client_name="Acme Dental",
                device_id="dev-17",
                device_name="SRV-DC01",
                condition_name="Disk Space",
                source_url="https://rmm.example/alerts/7",
            ),
            decision=rules_pb.Decision(
                kind=rules_pb.DECISION_KIND_ROUTED,
                priority=tickets_pb.PRIORITY_P2,
                actions=rules_pb.Actions(queue="servers"),
            ),
        )
    if event_type == "alert.reset_failed":
        return ingest_events.AlertResetOutcome(
            series_key="ninjaone:acme:dev-17:disk",
            ticket_id=SAMPLE_TICKET_ID,
            outbound_reset=ingest_pb.OutboundReset(
                state=ingest_pb.OUTBOUND_RESET_STATE_FAILED,
                attempt_count=5,
                last_outcome="HTTP 503 from the RMM",
                last_response_code=503,
            ),
        )
    if event_type == "ticket.opened":
        return ticket_events.TicketOpened(ticket=ticket)
    if event_type == "ticket.occurred":
        return ticket_events.TicketOccurred(ticket=ticket, occurrence_count=3)
    if event_type == "ticket.updated":
        after = tickets_pb.Ticket()
        after.CopyFrom(ticket)
        after.priority = tickets_pb.PRIORITY_P1
        return ticket_events.TicketUpdated(before=ticket, after=after, changed_paths=["priority"])
    if event_type == "ticket.commented":
        return ticket_events.TicketCommented(
            ticket=ticket,
            comment=tickets_pb.Comment(body="Cleared the temp folders; 38% free now."),
            public=True,
            by_human=True,
        )
    if event_type == "ticket.closed":
        return ticket_events.TicketClosed(ticket=ticket, actor="sam@msp.example")
    if event_type == "ticket.reopened":
        return ticket_events.TicketReopened(ticket=ticket, reason="The alert fired again.")
    if event_type == "sla.threshold":
        return sla_events.SlaThreshold(
            ticket=_sla_ref(),
            target_kind=sla_pb.SLA_TARGET_KIND_RESOLUTION,
            percent=75,
            due_time=due,
        )
    if event_type == "sla.breached":
        return sla_events.SlaBreached(
            ticket=_sla_ref(), target_kind=sla_pb.SLA_TARGET_KIND_RESOLUTION, due_time=due
        )
    if event_type == "sla.cancelled":
        return sla_events.SlaCancelled(
            ticket=_sla_ref(),
            target_kind=sla_pb.SLA_TARGET_KIND_FIRST_RESPONSE,
            cancel_time=to_timestamp(now),
            reason=sla_events.SLA_CANCEL_REASON_MERGED,
            merged_into_ticket_id="00000000-0000-7000-8000-000000000041",
            merged_into_ticket_number=1041,
            due_time=due,
        )
    raise KeyError(event_type)


def sample_envelope(event_type: str, *, tenant_id: str, now: datetime) -> Envelope:
    """A sample event of ``event_type`` (KeyError for a type with no event behind it)."""
    wire_type = "alert.reset_outcome" if event_type == "alert.reset_failed" else event_type
    return new_envelope(
        tenant_id=tenant_id,
        event_type=wire_type,
        payload=_payload(event_type, now),  # type: ignore[arg-type]
        producer="notify-preview",
        ordering_key=SAMPLE_TICKET_ID,
        occurred_at=now,
    )
