"""Errors of the ingest service."""

from __future__ import annotations

from triage.runtime.errors import NotFound, Unavailable


class IntegrationNotFound(NotFound):
    """No such integration for this tenant."""

    reason = "INTEGRATION_NOT_FOUND"


class AlertNotFound(NotFound):
    """No such alert event for this tenant."""

    reason = "ALERT_NOT_FOUND"


class TenantNotFound(NotFound):
    """No such tenant."""

    reason = "TENANT_NOT_FOUND"


class StorageUnavailable(Unavailable):
    """The database could not durably store the alerts; the sender should retry."""

    reason = "STORAGE_UNAVAILABLE"
