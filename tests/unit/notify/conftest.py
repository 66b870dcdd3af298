from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notify.domain.model import NotificationMessage


def _make_message(**overrides: Any) -> NotificationMessage:
    values: dict[str, Any] = {
        "event_id": "evt-1",
        "event_type": "ticket.opened",
        "tenant_id": "tenant-a",
        "occurred_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "severity": 4,
        "priority": 2,
        "title": "Disk C: almost full on ACME-DC01",
        "body": "Free space 2% (threshold 5%)",
        "url": "https://triage.example/tickets/T-1042",
        "fields": {"Ticket": "T-1042", "Client": "Acme", "Device": "ACME-DC01"},
    }
    values.update(overrides)
    return NotificationMessage(**values)


@pytest.fixture
def make_message() -> Callable[..., NotificationMessage]:
    return _make_message
