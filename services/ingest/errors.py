"""Errors of the ingest service."""

from __future__ import annotations

from triage.runtime import InvalidArgument, NotFound, Unavailable


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


class UnstorableAlert(InvalidArgument):
    """One request's alerts cannot be stored as they are (the others of its batch were)."""

    reason = "UNSTORABLE_ALERT"
