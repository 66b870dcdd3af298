"""Errors of the tickets service, each with a stable reason."""

from __future__ import annotations

from triage.runtime import Aborted, FailedPrecondition, NotFound


class TicketNotFound(NotFound):
    """No such ticket for this tenant."""

    reason = "TICKET_NOT_FOUND"


class EtagMismatch(Aborted):
    """The ticket changed since the caller read it."""

    reason = "ETAG_MISMATCH"


class TicketStateConflict(FailedPrecondition):
    """The ticket's state does not allow the operation (closed, already open, ...)."""

    reason = "TICKET_STATE_CONFLICT"


class IncidentNotFound(NotFound):
    """No such incident for this tenant."""

    reason = "INCIDENT_NOT_FOUND"


class IncidentConflict(FailedPrecondition):
    """The incident's state does not allow the operation (the parent's own alert, an
    incident merged into itself, a closed incident, ...)."""

    reason = "INCIDENT_CONFLICT"
