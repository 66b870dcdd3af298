"""Errors of the sla service, each with a stable reason."""

from __future__ import annotations

from collections.abc import Sequence

from services.sla.domain.violation import Violation
from triage.runtime import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)


class SlaInvalid(InvalidArgument):
    """The request is malformed (bad zone, bad shift, bad target, ...)."""

    reason = "SLA_INVALID_ARGUMENT"

    @classmethod
    def of(cls, violations: Sequence[Violation]) -> SlaInvalid:
        """The error for domain violations."""
        first = violations[0]
        return cls(
            f"{first.field}: {first.description}",
            violations=[FieldViolation(v.field, v.description) for v in violations],
        )


class CalendarNotFound(NotFound):
    """No such calendar for this tenant."""

    reason = "CALENDAR_NOT_FOUND"


class HolidayNotFound(NotFound):
    """No such holiday in the calendar."""

    reason = "HOLIDAY_NOT_FOUND"


class PolicyNotFound(NotFound):
    """No such policy for this tenant."""

    reason = "POLICY_NOT_FOUND"


class TicketSlaNotFound(NotFound):
    """The ticket has no SLA (unknown to this service for this tenant)."""

    reason = "TICKET_SLA_NOT_FOUND"


class EtagMismatch(Aborted):
    """The resource changed since the caller read it."""

    reason = "ETAG_MISMATCH"


class NameTaken(AlreadyExists):
    """Another calendar of the tenant has this name."""

    reason = "CALENDAR_NAME_TAKEN"


class ScopeTaken(AlreadyExists):
    """Another policy already covers this scope (one default, one per client or queue)."""

    reason = "POLICY_SCOPE_TAKEN"


class CalendarInUse(FailedPrecondition):
    """A policy still uses the calendar."""

    reason = "CALENDAR_IN_USE"
