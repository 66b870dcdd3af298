"""Stored channels, policies, deliveries and attempts as the store hands them out, and
the views the use cases answer with: frozen, typed values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notify.domain.channel import ChannelSpec
from services.notify.domain.model import AttemptResult


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """A stored channel; the three health fields come from its state row when joined."""

    id: str
    tenant_id: str
    display_name: str
    kind: str
    config: dict[str, Any]
    secrets: bytes
    destination: str
    disabled: bool
    quiet_hours: dict[str, Any] | None
    rate_limit: dict[str, Any] | None
    digest: dict[str, Any] | None
    template: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    version: int
    breaker_state: str | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class ChannelStateRow:
    """A channel's breaker, token bucket and digest state."""

    channel_id: str
    tenant_id: str
    breaker_state: str
    consecutive_failures: int
    opened_at: datetime | None
    probe_started_at: datetime | None
    tokens: float | None
    tokens_at: datetime | None
    digest_flush_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A stored notification policy."""

    id: str
    tenant_id: str
    display_name: str
    disabled: bool
    event_types: list[str]
    filter: dict[str, Any]
    channel_ids: list[str]
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class PolicyDraft:
    """A policy's writable columns, as a request asks for them."""

    display_name: str
    disabled: bool
    event_types: list[str]
    filter: dict[str, Any]
    channel_ids: list[str]


@dataclass(frozen=True, slots=True)
class SealedChannel:
    """A channel's writable columns with its secrets sealed, as creating and updating
    store them."""

    display_name: str
    config: dict[str, Any]
    secrets: bytes
    destination: str
    disabled: bool
    quiet_hours: dict[str, Any] | None
    rate_limit: dict[str, Any] | None
    digest: dict[str, Any] | None
    template: dict[str, Any] | None
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """A stored delivery: one event on one channel."""

    id: str
    tenant_id: str
    channel_id: str
    channel_kind: str
    destination: str
    policy_id: str | None
    rule_id: str | None
    event_id: str
    event_type: str
    idempotency_key: str
    ticket_id: str | None
    alert_id: str | None
    subject: str
    message: dict[str, Any]
    critical: bool
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    hold_until: datetime | None
    digest_hold: bool
    digest_delivery_id: str | None
    lease_token: str | None
    lease_until: datetime | None
    dead_reason: str | None
    age_from: datetime
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One stored attempt of a delivery."""

    id: int
    delivery_id: str
    tenant_id: str
    number: int
    started_at: datetime
    latency_seconds: float
    success: bool
    error_class: str | None
    error_message: str | None
    response_code: int | None
    provider_request_id: str | None
    retry_after_seconds: float | None


@dataclass(frozen=True, slots=True)
class ChannelTarget:
    """What planning needs of a channel a delivery goes to."""

    id: str
    tenant_id: str
    kind: str
    destination: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A stored channel (with breaker state) and its spec, secrets decrypted."""

    row: ChannelRow
    spec: ChannelSpec


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A stored delivery with the attempts asked for (all, or the last one)."""

    row: DeliveryRow
    attempts: tuple[AttemptRow, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What a test send returned."""

    __test__ = False

    result: AttemptResult
    latency: float
