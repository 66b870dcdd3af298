"""Values that describe a notification and the outcome of one delivery attempt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from types import MappingProxyType


class Severity(IntEnum):
    """Alert severity, 1 (info) to 5 (critical)."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


class ChannelKind(StrEnum):
    """The transports a channel can use."""

    WEBHOOK = "webhook"
    NTFY = "ntfy"
    SMTP = "smtp"
    SLACK = "slack"
    TEAMS = "teams"


class DeliveryStatus(StrEnum):
    """Lifecycle of one delivery (one event on one channel)."""

    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEAD = "dead"


class ErrorClass(StrEnum):
    """Why an attempt failed, coarse enough to act on and to chart."""

    AUTH = "auth"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    TLS = "tls"
    CONNECTION = "connection"
    INVALID_CONFIG = "invalid_config"


def _check_level(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValueError(f"{name} must be an integer from 1 to 5, got {value!r}")


@dataclass(frozen=True, slots=True)
class NotificationMessage:
    """One thing to tell people about, independent of the channel it travels on.

    `occurred_at` must be timezone-aware; `fields` is copied into a read-only mapping
    whose insertion order is the display order (ticket number, client, device...).
    """

    event_id: str
    event_type: str
    tenant_id: str
    occurred_at: datetime
    severity: int
    title: str
    body: str
    priority: int | None = None
    url: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.event_id:
            raise ValueError("event_id is required")
        if not self.tenant_id:
            raise ValueError("tenant_id is required")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        _check_level("severity", self.severity)
        if self.priority is not None:
            _check_level("priority", self.priority)
        frozen = MappingProxyType({str(k): str(v) for k, v in self.fields.items()})
        object.__setattr__(self, "fields", frozen)

    @property
    def severity_label(self) -> str:
        """Lower-case name of the severity, e.g. "critical"."""
        return Severity(self.severity).name.lower()


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """Outcome of one send attempt; senders return it instead of raising.

    `permanent` tells the worker not to retry (a 4xx other than 408/429, bad
    credentials, an invalid configuration); `retry_after` is in seconds; `latency`
    is wall time of the attempt in seconds.
    """

    ok: bool
    status_code: int | None = None
    error_class: ErrorClass | None = None
    error: str | None = None
    retry_after: float | None = None
    provider_request_id: str | None = None
    latency: float = 0.0
    permanent: bool = False

    @classmethod
    def success(
        cls,
        *,
        status_code: int | None = None,
        provider_request_id: str | None = None,
        latency: float = 0.0,
        error: str | None = None,
    ) -> AttemptResult:
        """A delivered attempt (`error` may note a partial problem, e.g. refused CCs)."""
        return cls(
            ok=True,
            status_code=status_code,
            provider_request_id=provider_request_id,
            latency=latency,
            error=error,
        )

    @classmethod
    def failure(
        cls,
        error_class: ErrorClass,
        error: str,
        *,
        permanent: bool = False,
        status_code: int | None = None,
        retry_after: float | None = None,
        provider_request_id: str | None = None,
        latency: float = 0.0,
    ) -> AttemptResult:
        """A failed attempt with its classification."""
        return cls(
            ok=False,
            status_code=status_code,
            error_class=error_class,
            error=error,
            retry_after=retry_after,
            provider_request_id=provider_request_id,
            latency=latency,
            permanent=permanent,
        )
