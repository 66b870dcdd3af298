"""A rendered preview of what a channel would send (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.notify.domain.model import NotificationMessage, Severity

SAMPLE_EVENT_ID = "preview"


@dataclass(frozen=True, slots=True)
class Preview:
    """A sample message rendered for a channel: its parts and the payload sent."""

    title: str
    text: str
    html: str
    payload: str
    content_type: str


def channel_failing_sample(tenant_id: str, now: datetime) -> NotificationMessage:
    """A sample ``notify.channel_failing`` message (notify raises it itself, no event)."""
    return NotificationMessage(
        event_id=SAMPLE_EVENT_ID,
        event_type="notify.channel_failing",
        tenant_id=tenant_id,
        occurred_at=now,
        severity=int(Severity.HIGH),
        title="Notification channel 'Ops webhook' is failing: its circuit opened",
        body="HTTP 503 from https://hooks.example/ops",
        fields={"Channel": "Ops webhook", "Error": "server_error"},
    )
