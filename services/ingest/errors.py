"""Errors of the ingest service."""

from __future__ import annotations

from services.ingest.domain.records import MAX_ALERTS_PER_WEBHOOK
from triage.runtime import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)


class IntegrationNotFound(NotFound):
    """No such integration for this tenant."""

    reason = "INTEGRATION_NOT_FOUND"


class AlertNotFound(NotFound):
    """No such alert event for this tenant."""

    reason = "ALERT_NOT_FOUND"


class TenantNotFound(NotFound):
    """No such tenant."""

    reason = "TENANT_NOT_FOUND"


class TokenNotFound(NotFound):
    """No issued token with this id."""

    reason = "TOKEN_NOT_FOUND"


class TenantSuspended(PermissionDenied):
    """The tenant is suspended: its webhooks are refused (403) until it is resumed."""

    reason = "TENANT_SUSPENDED"


class TenantDeleted(PermissionDenied):
    """The tenant's deletion was requested: its webhooks are refused (410) for good; the
    reason is TENANT_DELETING until the deletion completes."""

    reason = "TENANT_DELETED"


class StorageUnavailable(Unavailable):
    """The database could not durably store the alerts; the sender should retry."""

    reason = "STORAGE_UNAVAILABLE"


class UnstorableAlert(InvalidArgument):
    """One request's alerts cannot be stored as they are (the others of its batch were)."""

    reason = "UNSTORABLE_ALERT"


class WebhookUnauthorized(Unauthenticated):
    """Unknown integration, wrong secret, bad signature, disabled or another provider's
    URL: one error for all, so a sender cannot tell which."""

    reason = "WEBHOOK_UNAUTHORIZED"


class WebhookRateLimited(ResourceExhausted):
    """The integration sent more webhooks than its rate allows (per gateway replica)."""

    reason = "WEBHOOK_RATE_LIMITED"

    def __init__(self, *, retry_after: float, rate: float, burst: float) -> None:
        """Say when to retry and what the limits are."""
        super().__init__(f"this integration may send {rate:g} webhooks/s with bursts of {burst:g}")
        self.retry_after = retry_after
        self.rate = rate
        self.burst = burst


class TooManyAlerts(InvalidArgument):
    """The body carries more alerts than one webhook may."""

    reason = "TOO_MANY_ALERTS"

    def __init__(self, count: int) -> None:
        """Say how many there were and how many are allowed."""
        super().__init__(
            f"the body carries {count} alerts; at most {MAX_ALERTS_PER_WEBHOOK} per webhook"
        )
        self.count = count
