"""A notification message as JSON, the way a delivery stores it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.notify.domain.model import NotificationMessage


def message_to_json(message: NotificationMessage) -> dict[str, Any]:
    """A notification message as stored with its delivery."""
    return {
        "event_id": message.event_id,
        "event_type": message.event_type,
        "tenant_id": message.tenant_id,
        "occurred_at": message.occurred_at.astimezone(UTC).isoformat(),
        "severity": message.severity,
        "priority": message.priority,
        "title": message.title,
        "body": message.body,
        "url": message.url,
        "fields": [[k, v] for k, v in message.fields.items()],
    }


def message_from_json(data: Mapping[str, Any]) -> NotificationMessage:
    """The notification message stored with a delivery."""
    return NotificationMessage(
        event_id=data["event_id"],
        event_type=data["event_type"],
        tenant_id=data["tenant_id"],
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        severity=int(data["severity"]),
        priority=data.get("priority"),
        title=data["title"],
        body=data["body"],
        url=data.get("url"),
        fields={str(k): str(v) for k, v in data.get("fields", [])},
    )
