"""notify and merged tickets (issue 19 follow-up): a ticket closed because it was merged into
an incident's parent says "merged into #N", not a plain close; other closes read as before."""

from __future__ import annotations

from services.notify.events import notifiable
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.events import new_envelope
from triage.tickets.v1 import events_pb2 as ev
from triage.tickets.v1 import resources_pb2 as res

TENANT = "0190f3a4-0000-7000-8000-000000000002"


def _closed(payload: ev.TicketClosed) -> Envelope:
    return new_envelope(
        tenant_id=TENANT,
        event_type="ticket.closed",
        payload=payload,
        producer="tickets",
        ordering_key=payload.ticket.id,
    )


def _ticket() -> res.Ticket:
    return res.Ticket(id="t-7", number=7, title="PC-7: offline", status=res.TICKET_STATUS_CLOSED)


def test_a_merged_close_says_where_it_went() -> None:
    merged = ev.TicketClosed(
        ticket=_ticket(),
        reason=res.CLOSE_REASON_MERGED,
        auto=True,
        actor="triage",
        merged_into=ev.MergedInto(ticket_id="t-12", ticket_number=12, incident_id="i-1"),
    )
    found = notifiable(_closed(merged))
    assert found is not None
    assert found.message.title == "Ticket #7 merged into #12: PC-7: offline"
    assert "Merged into ticket #12" in found.message.body


def test_a_resolved_close_reads_as_before() -> None:
    resolved = ev.TicketClosed(ticket=_ticket(), reason=res.CLOSE_REASON_ALERT_RESET, auto=True)
    found = notifiable(_closed(resolved))
    assert found is not None
    assert found.message.title == "Ticket #7 closed: PC-7: offline"
    assert "merged" not in found.message.body.lower()
