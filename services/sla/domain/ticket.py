"""What the sla service knows about a ticket, and the ticket facts an event brings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from services.sla.domain.clock import Clock, ClockState, TargetKind
from services.sla.domain.policy import FirstResponse, Snapshot

__all__ = [
    "AuditEntry",
    "AuditKind",
    "BreachFilter",
    "BreachView",
    "ChangeKind",
    "ClockRecord",
    "TicketChange",
    "TicketFacts",
    "TicketView",
]

HUMAN_CAUSE = 1
NEW_STATUS = 1


class ChangeKind(StrEnum):
    """Which ticket event happened."""

    OPENED = "opened"
    UPDATED = "updated"
    COMMENTED = "commented"
    CLOSED = "closed"
    REOPENED = "reopened"


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """The ticket fields the sla service keeps, as carried by every ticket event."""

    ticket_id: str
    number: int
    title: str
    priority: int
    status: int
    client_id: str
    client_name: str
    queue: str
    assignee: str
    reopen_count: int
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TicketChange:
    """One ticket event reduced to what moves clocks."""

    kind: ChangeKind
    event_id: str
    at: datetime
    """The event's own instant (close time, comment time, update time)."""
    ticket: TicketFacts
    before_status: int = 0
    before_priority: int = 0
    changed_paths: tuple[str, ...] = ()
    human: bool = False
    public: bool = False
    auto: bool = False
    merged: bool = False
    """A close because the ticket was merged into another one (not a resolution)."""
    merged_into_number: int = 0
    """The number of the ticket it was merged into, when known."""
    merged_into_id: str = ""
    """The id of the ticket it was merged into, when known."""

    def is_first_response(self, definition: FirstResponse) -> bool:
        """Whether this change counts as the first response under ``definition``."""
        if definition in (FirstResponse.UNSPECIFIED, FirstResponse.PUBLIC_HUMAN_COMMENT):
            return self.kind is ChangeKind.COMMENTED and self.human and self.public
        if definition is FirstResponse.ANY_HUMAN_COMMENT:
            return self.kind is ChangeKind.COMMENTED and self.human
        if definition is FirstResponse.ANY_HUMAN_TOUCH:
            return self.human and self.kind in (ChangeKind.COMMENTED, ChangeKind.UPDATED)
        return (
            self.kind is ChangeKind.UPDATED
            and "status" in self.changed_paths
            and self.before_status == NEW_STATUS
        )


@dataclass(frozen=True, slots=True)
class TicketView:
    """The ticket projection with the snapshot its clocks started with."""

    tenant_id: str
    facts: TicketFacts
    closed: bool
    snapshot: Snapshot
    first_response_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClockRecord:
    """A stored clock with what the database keeps beside it."""

    ticket_id: str
    clock: Clock
    fence: int = 0
    breached_at: datetime | None = None
    breach_due_at: datetime | None = None
    met_at: datetime | None = None

    @property
    def kind(self) -> TargetKind:
        """Which target the clock measures."""
        return self.clock.kind

    def reported_state(self, at: datetime) -> ClockState:
        """RUNNING/PAUSED/MET/CANCELLED, or BREACHED once past due (even if completed or
        cancelled afterwards)."""
        if self.breached_at is not None:
            return ClockState.BREACHED
        return self.clock.status(at)


class AuditKind(IntEnum):
    """What an audit entry records (values of ``SlaAuditKind``)."""

    STARTED = 1
    PAUSED = 2
    RESUMED = 3
    THRESHOLD = 4
    BREACHED = 5
    MET = 6
    RECOMPUTED = 7
    STOPPED = 8
    CANCELLED = 9


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited change of a ticket's clock, with before and after."""

    id: str
    ticket_id: str
    target_kind: TargetKind
    kind: AuditKind
    cause: str
    event_at: datetime
    cause_event_id: str = ""
    before_state: ClockState | None = None
    after_state: ClockState | None = None
    before_due_at: datetime | None = None
    after_due_at: datetime | None = None
    percent: int = 0
    late: bool = False


@dataclass(frozen=True, slots=True)
class BreachView:
    """A breached target for ListBreaches."""

    ticket: TicketFacts
    kind: TargetKind
    due_at: datetime | None
    breached_at: datetime
    met_at: datetime | None
    cancelled_at: datetime | None = None


STATUS_NAMES = {
    0: "UNSPECIFIED",
    1: "NEW",
    2: "OPEN",
    3: "IN_PROGRESS",
    4: "AWAITING_CUSTOMER",
    5: "RESOLVED",
    6: "CLOSED",
}


def status_name(status: int) -> str:
    """A ticket status for audit causes, e.g. ``AWAITING_CUSTOMER``."""
    return STATUS_NAMES.get(status, str(status))


def priority_name(priority: int) -> str:
    """A priority for audit causes, e.g. ``P1``."""
    return f"P{priority}" if priority else "UNSPECIFIED"


@dataclass(frozen=True, slots=True)
class BreachFilter:
    """Filters of ListBreaches."""

    since: datetime | None = None
    kinds: tuple[TargetKind, ...] = ()
    priorities: tuple[int, ...] = ()
    client_id: str = ""
    queue: str = ""
