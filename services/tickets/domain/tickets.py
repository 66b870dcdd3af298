"""Pure ticket logic: entities, statuses and their changes, human touch, dedup keys, escalation."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.tickets.domain.incidents import StormSettings

# The enums mirror the numeric values of the triage.tickets.v1 protobuf enums, so the
# boundary converts with int() and the domain stays free of generated code.


class Priority(enum.IntEnum):
    """Ticket priority; a smaller number is more urgent."""

    UNSPECIFIED = 0
    P1 = 1
    P2 = 2
    P3 = 3
    P4 = 4
    P5 = 5


class Status(enum.IntEnum):
    """Ticket status."""

    UNSPECIFIED = 0
    NEW = 1
    OPEN = 2
    IN_PROGRESS = 3
    AWAITING_CUSTOMER = 4
    RESOLVED = 5
    CLOSED = 6


class Source(enum.IntEnum):
    """Where a ticket came from."""

    UNSPECIFIED = 0
    ALERT = 1
    MANUAL = 2


class Visibility(enum.IntEnum):
    """Who can see a comment."""

    UNSPECIFIED = 0
    PUBLIC = 1
    INTERNAL = 2


class AuthorKind(enum.IntEnum):
    """Whether a person or Triage wrote something."""

    UNSPECIFIED = 0
    HUMAN = 1
    SYSTEM = 2


class Cause(enum.IntEnum):
    """What caused a change."""

    UNSPECIFIED = 0
    HUMAN = 1
    RULE = 2
    SLA_ESCALATION = 3
    ALERT = 4
    SYSTEM = 5


class CloseReason(enum.IntEnum):
    """Why a ticket was closed."""

    UNSPECIFIED = 0
    MANUAL = 1
    ALERT_RESET = 2
    ALERT_INACTIVE = 3
    SYSTEM = 4
    MERGED = 5  # into another ticket (an incident's parent): not resolved


class HistoryKind(enum.IntEnum):
    """What a history entry records."""

    UNSPECIFIED = 0
    CREATED = 1
    UPDATED = 2
    OCCURRED = 3
    COMMENTED = 4
    TIME_LOGGED = 5
    CLOSED = 6
    REOPENED = 7


DEFAULT_PRIORITY = Priority.P3
SYSTEM_ACTOR = "triage"
SLA_ACTOR = "sla"

#: Fields a person may change with UpdateTicket.
UPDATABLE_FIELDS = frozenset(
    {
        "title",
        "description",
        "priority",
        "status",
        "queue",
        "assignee",
        "client_id",
        "client_name",
        "site_id",
        "site_name",
        "device_id",
        "device_name",
    }
)
#: A person changing one of these has worked on the ticket.
TOUCHING_FIELDS = frozenset({"status", "priority", "assignee"})


@dataclass(frozen=True, slots=True)
class Damping:
    """A tenant's flap damping: on by default, 5 state changes in 30 minutes (see
    :mod:`.flapping` and docs/DECISIONS.md)."""

    enabled: bool = True
    changes: int = 5
    window: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """A tenant's ticket settings; every tenant starts with these defaults."""

    closed_statuses: frozenset[Status] = frozenset({Status.RESOLVED, Status.CLOSED})
    pausing_statuses: frozenset[Status] = frozenset({Status.AWAITING_CUSTOMER})
    occurrence_comment_interval: timedelta = timedelta(hours=1)
    reopen_within: timedelta = timedelta(0)
    damping: Damping = Damping()
    storm: StormSettings = field(default_factory=StormSettings)
    #: The stored version (the etag's); 0 for defaults never stored. Not a setting.
    version: int = field(default=0, compare=False)

    @property
    def reopen_window(self) -> timedelta:
        """How long after its close an alert's ticket is reopened by a re-fire: the
        tenant's ``reopen_within``, at least the damping window while damping is on (a
        check that clears and fires again within it keeps one ticket)."""
        if self.damping.enabled:
            return max(self.reopen_within, self.damping.window)
        return self.reopen_within

    def is_closed(self, status: Status) -> bool:
        """Whether ``status`` counts as closed."""
        return status in self.closed_statuses

    def pauses_sla(self, status: Status) -> bool:
        """Whether ``status`` pauses SLA clocks."""
        return status in self.pausing_statuses


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket as the service keeps it."""

    id: str
    tenant_id: str
    number: int
    title: str
    description: str = ""
    client_id: str = ""
    client_name: str = ""
    site_id: str = ""
    site_name: str = ""
    device_id: str = ""
    device_name: str = ""
    priority: Priority = DEFAULT_PRIORITY
    status: Status = Status.NEW
    queue: str = ""
    assignee: str = ""
    source: Source = Source.MANUAL
    severity: int = 0
    condition: str = ""
    dedup_key: str | None = None
    occurrence_count: int = 0
    first_occurrence_at: datetime | None = None
    last_occurrence_at: datetime | None = None
    linked_series_keys: tuple[str, ...] = ()
    rule_id: str = ""
    close_on_reset: bool = False
    reset_in_rmm_on_close: bool = False
    notification_channel_ids: tuple[str, ...] = ()
    human_touched: bool = False
    close_reason: CloseReason = CloseReason.UNSPECIFIED
    reopen_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    version: int = 1
    occurrence_comment_at: datetime | None = None
    uncommented_occurrences: int = 0
    flapping_since: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Whether the ticket is open (holds its dedup key)."""
        return self.closed_at is None

    @property
    def etag(self) -> str:
        """The opaque version clients send back."""
        return f"v{self.version}"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's change, rendered as text."""

    field_path: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment on a ticket."""

    id: str
    ticket_id: str
    body: str
    visibility: Visibility
    author_kind: AuthorKind
    author: str
    created_at: datetime
    seq: int = 0


@dataclass(frozen=True, slots=True)
class TimeEntry:
    """Time worked on a ticket."""

    id: str
    ticket_id: str
    duration: timedelta
    start_at: datetime | None
    note: str
    billable: bool
    author: str
    created_at: datetime
    seq: int = 0


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One entry of a ticket's history."""

    id: str
    ticket_id: str
    kind: HistoryKind
    cause: Cause
    actor: str
    changes: tuple[FieldChange, ...]
    detail: str
    created_at: datetime
    seq: int = 0


class TransitionError(ValueError):
    """A status change the status machine does not allow."""


class StatusPlan(enum.Enum):
    """What a requested status change amounts to."""

    NOOP = "noop"
    SET = "set"
    CLOSE = "close"


def plan_status_change(
    current: Status, target: Status, *, is_open: bool, settings: TenantSettings
) -> StatusPlan:
    """Decide how to apply a requested status; raise TransitionError if it is not allowed.

    Closed tickets change status only through ReopenTicket; a closing status goes through
    the close path; nothing goes back to NEW.
    """
    if target is Status.UNSPECIFIED:
        raise TransitionError("status must be set")
    if target is current:
        return StatusPlan.NOOP
    if not is_open:
        raise TransitionError("the ticket is closed; reopen it first")
    if target is Status.NEW:
        raise TransitionError("a ticket cannot go back to NEW")
    if settings.is_closed(target):
        return StatusPlan.CLOSE
    return StatusPlan.SET


def closing_status(target: Status | None, settings: TenantSettings) -> Status:
    """The status a closed ticket takes: the requested closing one, else CLOSED."""
    if target is not None and settings.is_closed(target):
        return target
    return Status.CLOSED


def is_human_touch(cause: Cause, changed_paths: Iterable[str]) -> bool:
    """Whether a field change counts as a person working on the ticket.

    Only a person's change of status, priority or assignee does; rule-driven assignment and
    SLA escalation never do.
    """
    return cause is Cause.HUMAN and bool(TOUCHING_FIELDS.intersection(changed_paths))


def comment_touches(author_kind: AuthorKind) -> bool:
    """Whether a comment counts as a person working on the ticket."""
    return author_kind is AuthorKind.HUMAN


def escalated_priority(current: Priority, *, target: Priority, raise_levels: int) -> Priority:
    """The priority after an SLA escalation: ``target`` if more urgent, else raised by levels.

    Never lowers the priority; P1 is the ceiling.
    """
    if target is not Priority.UNSPECIFIED:
        return target if target < current or current is Priority.UNSPECIFIED else current
    if raise_levels <= 0:
        return current
    base = current if current is not Priority.UNSPECIFIED else DEFAULT_PRIORITY
    return Priority(max(int(Priority.P1), int(base) - raise_levels))


# --- alerts -> tickets ---------------------------------------------------------------


def dedup_key(*, tenant_id: str, device_id: str, device_name: str, condition: str) -> str:
    """The dedup key ``tenant/device/condition`` (device id, else the lower-cased name)."""
    device = device_id or device_name.strip().lower()
    return f"{tenant_id}/{device}/{condition}"


def condition_identity(*, condition: str, condition_name: str, series_key: str) -> str:
    """The condition part of the dedup key, falling back when the source sent none."""
    return condition or condition_name or series_key


def render_field(value: object) -> str:
    """A field value as history text (enum names for enums)."""
    if isinstance(value, enum.Enum):
        return value.name
    return "" if value is None else str(value)


def diff(before: Ticket, after: Ticket, paths: Iterable[str]) -> tuple[FieldChange, ...]:
    """The changes between two versions of a ticket, over ``paths``."""
    changes = []
    for path in paths:
        old, new = getattr(before, path), getattr(after, path)
        if old != new:
            changes.append(FieldChange(path, render_field(old), render_field(new)))
    return tuple(changes)


@dataclass(frozen=True, slots=True)
class Escalation:
    """SLA escalation actions for one ticket, merged."""

    ticket_id: str
    priority: Priority = Priority.UNSPECIFIED
    raise_levels: int = 0
    queue: str = ""
    assignee: str = ""
    label: str = ""

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to apply (notify-only thresholds)."""
        return not (
            self.priority is not Priority.UNSPECIFIED
            or self.raise_levels > 0
            or self.queue
            or self.assignee
        )


def default_title(*, device_name: str, summary: str, condition: str) -> str:
    """The ticket title when the rule rendered none."""
    what = summary or condition or "Alert"
    return f"{device_name}: {what}" if device_name else what


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """ListTickets filters (empty values do not filter)."""

    statuses: tuple[Status, ...] = ()
    open: bool | None = None
    priorities: tuple[Priority, ...] = ()
    queue: str = ""
    assignee: str = ""
    client_id: str = ""
    device_id: str = ""
    source: Source = Source.UNSPECIFIED
    series_key: str = ""
    dedup_key: str = ""
    start: datetime | None = None
    end: datetime | None = None
    query: str = ""
