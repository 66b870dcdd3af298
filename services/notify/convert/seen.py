"""What notify sees in an upstream event: its policy facts and, built only on demand, its
message. Shared by the decoders of each event family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.notify.domain.model import NotificationMessage, Severity
from services.notify.domain.notifiable import Notifiable
from services.notify.domain.policy import EventFacts
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime import from_timestamp


def severity_of(value: int) -> int:
    """A severity from its proto value (MEDIUM when unset or unknown)."""
    return value if 1 <= value <= 5 else int(Severity.MEDIUM)


def priority_of(value: int) -> int | None:
    """A priority from its proto value (None when unset or unknown)."""
    return value if 1 <= value <= 5 else None


def priority_name(value: int) -> str:
    """``P2`` for priority 2 (empty when unset or unknown)."""
    return f"P{value}" if 1 <= value <= 5 else ""


def message_fields(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """A message's fields, the empty ones left out."""
    return {k: v for k, v in pairs if v}


@dataclass(frozen=True, slots=True)
class Seen:
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


def build_message(
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
    """The message of ``envelope`` (its title's whitespace collapsed and bounded)."""
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
