"""notify and flap damping (issue 18): one "flapping" notice when tickets marks a ticket
flapping, nothing for each flap after it, the usual notice once it is no longer flapping."""

from __future__ import annotations

from google.protobuf.message import Message

from services.notify.events import notifiable
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.events import new_envelope
from triage.tickets.v1 import events_pb2 as ev
from triage.tickets.v1 import resources_pb2 as res

TENANT = "0190f3a4-0000-7000-8000-000000000001"


def _ticket(*, flapping: bool) -> res.Ticket:
    return res.Ticket(id="t-1", number=7, title="dev-1: disk low", flapping=flapping)


def _envelope(event_type: str, payload: Message) -> Envelope:
    return new_envelope(
        tenant_id=TENANT,
        event_type=event_type,
        payload=payload,
        producer="tickets",
        ordering_key="t-1",
    )


def test_the_marking_update_is_one_flapping_notice() -> None:
    marked = ev.TicketUpdated(
        before=_ticket(flapping=False),
        after=_ticket(flapping=True),
        changed_paths=["flapping_since"],
    )
    found = notifiable(_envelope("ticket.updated", marked))
    assert found is not None
    assert "is flapping" in found.message.title and "#7" in found.message.title


def test_a_flapping_tickets_other_events_notify_nothing() -> None:
    flapping = _ticket(flapping=True)
    for event_type, payload in (
        ("ticket.occurred", ev.TicketOccurred(ticket=flapping, occurrence_count=9)),
        ("ticket.reopened", ev.TicketReopened(ticket=flapping)),
        ("ticket.commented", ev.TicketCommented(ticket=flapping)),
        (
            "ticket.updated",
            ev.TicketUpdated(before=flapping, after=flapping, changed_paths=["priority"]),
        ),
    ):
        assert notifiable(_envelope(event_type, payload)) is None, event_type


def test_without_flapping_events_notify_as_before() -> None:
    calm = _ticket(flapping=False)
    found = notifiable(
        _envelope("ticket.occurred", ev.TicketOccurred(ticket=calm, occurrence_count=2))
    )
    assert found is not None and "occurred again" in found.message.title
    closed = notifiable(_envelope("ticket.closed", ev.TicketClosed(ticket=calm)))
    assert closed is not None
