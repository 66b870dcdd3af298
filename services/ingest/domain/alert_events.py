"""A stored alert event, with its suppression and outbound reset state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """One ``alert_events`` row; ``raw_body`` only where the read asked for it."""

    id: str
    tenant_id: str
    integration_id: str
    provider: str
    kind: str
    series_key: str
    delivery_key: str
    source_event_id: str | None
    source_ref: str | None
    device_id: str | None
    device_name: str | None
    client_id: str | None
    client_name: str | None
    site_id: str | None
    site_name: str | None
    condition: str
    severity: int
    raw_severity: str | None
    summary: str
    message: str
    labels: Mapping[str, str]
    occurred_at: datetime | None
    received_at: datetime
    content_type: str | None
    body_id: str | None
    redelivery_count: int
    suppressed: bool
    suppression_window_id: str | None
    reset_state: str
    reset_ticket_id: str | None
    reset_attempts: int
    reset_last_attempt_at: datetime | None
    reset_next_attempt_at: datetime | None
    reset_last_outcome: str | None
    reset_last_code: int | None
    reset_completed_at: datetime | None
    raw_body: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AlertFilters:
    """What a list of alert events is narrowed to (None: no condition)."""

    integration_id: str | None = None
    providers: list[str] | None = None
    kinds: list[str] | None = None
    series_key: str | None = None
    device_id: str | None = None
    client_id: str | None = None
    min_severity: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    suppressed: bool | None = None
    reset_state: str | None = None
