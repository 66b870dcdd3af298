"""An event as notify sees it: what to say, what to filter on, what it concerns."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.domain.model import NotificationMessage
from services.notify.domain.policy import EventFacts


@dataclass(frozen=True, slots=True)
class Notifiable:
    """An event as notify sees it: what to say, what to filter on, what it concerns."""

    message: NotificationMessage
    facts: EventFacts
    ticket_id: str | None = None
    alert_id: str | None = None
