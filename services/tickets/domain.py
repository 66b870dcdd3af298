"""Pure ticket logic: statuses, human touch, dedup keys, trigger and reset decisions."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
#: The label ingest sets on a reset that was found (polled) rather than sent by the RMM.
RESET_ORIGIN_LABEL = "triage.reset_origin"


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """A tenant's ticket settings; every tenant starts with these defaults."""

    closed_statuses: frozenset[Status] = frozenset({Status.RESOLVED, Status.CLOSED})
    pausing_statuses: frozenset[Status] = frozenset({Status.AWAITING_CUSTOMER})
    occurrence_comment_interval: timedelta = timedelta(hours=1)
    reopen_within: timedelta = timedelta(0)

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


def is_superseded(
    *,
    occurred_at: datetime,
    sequence: int,
    reset_at: datetime,
    reset_sequence: int,
) -> bool:
    """Whether a trigger happened before the series' latest reset (a late delivery)."""
    if occurred_at != reset_at:
        return occurred_at < reset_at
    return 0 < sequence < reset_sequence


def persistence_met(
    trigger_times: Sequence[datetime], *, now: datetime, count: int, within: timedelta
) -> bool:
    """Whether at least ``count`` triggers fall in ``[now - within, now]``."""
    if count <= 1:
        return True
    start = now - within
    return sum(1 for t in trigger_times if start <= t <= now) >= count


class TriggerAction(enum.Enum):
    """What a trigger does."""

    IGNORE = "ignore"
    SUPERSEDED = "superseded"
    OCCUR = "occur"
    WAIT = "wait"
    REOPEN = "reopen"
    OPEN = "open"


def decide_trigger(
    *,
    wants_ticket: bool,
    superseded: bool,
    has_open_ticket: bool,
    persistence_ok: bool,
    reopenable: bool,
) -> TriggerAction:
    """Decide what a trigger does, in this order.

    Not ticket-worthy (record only, suppressed) -> nothing; older than the series' latest
    reset -> nothing; an open ticket for the key -> one more occurrence; persistence not yet
    met -> wait; a recently closed ticket and the tenant reopens -> reopen; else open.
    """
    if not wants_ticket:
        return TriggerAction.IGNORE
    if superseded:
        return TriggerAction.SUPERSEDED
    if has_open_ticket:
        return TriggerAction.OCCUR
    if not persistence_ok:
        return TriggerAction.WAIT
    if reopenable:
        return TriggerAction.REOPEN
    return TriggerAction.OPEN


def reopenable(
    closed_at: datetime | None, *, occurred_at: datetime, settings: TenantSettings
) -> bool:
    """Whether a ticket closed at ``closed_at`` is reopened by a trigger at ``occurred_at``."""
    if closed_at is None or settings.reopen_within <= timedelta(0):
        return False
    return occurred_at - closed_at <= settings.reopen_within


def occurrence_comment_due(
    last_comment_at: datetime | None, *, occurred_at: datetime, interval: timedelta
) -> bool:
    """Whether a coalesced occurrence comment is due (at most one per interval)."""
    return last_comment_at is None or occurred_at - last_comment_at >= interval


def occurrence_comment(*, count: int, since: datetime | None, total: int) -> str:
    """The text of a coalesced occurrence comment."""
    times = "time" if count == 1 else "times"
    when = f" since {since:%Y-%m-%d %H:%M:%SZ}" if since is not None else ""
    return f"The alert occurred {count} more {times}{when} ({total} in total)."


class ResetOrigin(enum.Enum):
    """How the source said its series cleared."""

    RMM_RESET = "rmm_reset"
    INACTIVE = "inactive"


def reset_origin(labels: dict[str, str]) -> ResetOrigin:
    """Whether the RMM reset the alert or it was found no longer active."""
    if labels.get(RESET_ORIGIN_LABEL, "").lower() == "inactive":
        return ResetOrigin.INACTIVE
    return ResetOrigin.RMM_RESET


class ResetVerdict(enum.Enum):
    """What a reset does to its open ticket."""

    CLOSE = "close"
    KEEP_RULE = "keep_rule"
    KEEP_TOUCHED = "keep_touched"
    KEEP_REFIRED = "keep_refired"


@dataclass(frozen=True, slots=True)
class ResetDecision:
    """A reset's effect on its open ticket: always a comment, a close only if CLOSE."""

    verdict: ResetVerdict
    close_reason: CloseReason
    reset_alert: bool
    comment: str

    @property
    def closes(self) -> bool:
        """Whether the ticket closes."""
        return self.verdict is ResetVerdict.CLOSE


def decide_reset(
    *,
    origin: ResetOrigin,
    reset_at: datetime,
    last_occurrence_at: datetime | None,
    close_on_reset: bool,
    human_touched: bool,
    reset_in_rmm_on_close: bool,
    series_key: str,
) -> ResetDecision:
    """The reset decision table.

    | re-fired after the reset | rule closes on reset | human touched | effect            |
    | yes                      | any                  | any           | comment           |
    | no                       | no                   | any           | comment           |
    | no                       | yes                  | yes           | comment           |
    | no                       | yes                  | no            | comment and close |

    Closing asks ingest to reset the alert in the RMM only when the rule asks and the RMM
    did not itself reset it.
    """
    if origin is ResetOrigin.INACTIVE:
        said = f"The alert (series {series_key}) is no longer active in the RMM (found by polling)"
        reason = CloseReason.ALERT_INACTIVE
    else:
        said = f"The alert (series {series_key}) was reset in the RMM"
        reason = CloseReason.ALERT_RESET
    said += f" at {reset_at:%Y-%m-%d %H:%M:%SZ}."
    if last_occurrence_at is not None and last_occurrence_at > reset_at:
        verdict = ResetVerdict.KEEP_REFIRED
        said += " Left open: the alert triggered again after this reset."
    elif not close_on_reset:
        verdict = ResetVerdict.KEEP_RULE
        said += " Left open: the routing rule does not close tickets on reset."
    elif human_touched:
        verdict = ResetVerdict.KEEP_TOUCHED
        said += " Left open: a person has worked on this ticket."
    else:
        verdict = ResetVerdict.CLOSE
        said += " Closing it: nobody had worked on it."
    return ResetDecision(
        verdict=verdict,
        close_reason=reason,
        reset_alert=reset_in_rmm_on_close and origin is not ResetOrigin.RMM_RESET,
        comment=said,
    )


@dataclass(frozen=True, slots=True)
class RoutedActions:
    """What the tickets service needs from a routing decision's actions."""

    wants_ticket: bool
    priority: Priority
    queue: str
    assignee: str
    title: str
    description: str
    close_on_reset: bool | None
    reset_in_rmm_on_close: bool | None
    notification_channel_ids: tuple[str, ...] = ()
    persistence_count: int = 1
    persistence_within: timedelta = timedelta(0)
    rule_id: str = ""
    rule_ids: tuple[str, ...] = field(default_factory=tuple)


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


class AlertKind(enum.IntEnum):
    """What an alert event says about its series (triage.ingest.v1.AlertKind)."""

    UNSPECIFIED = 0
    TRIGGER = 1
    RESET = 2
    ACKNOWLEDGE = 3
    INFO = 4


@dataclass(frozen=True, slots=True)
class RoutedAlert:
    """An alert with the rules service's decision, as the tickets service needs it."""

    alert_id: str
    tenant_id: str
    kind: AlertKind
    series_key: str
    sequence: int
    occurred_at: datetime
    device_id: str
    device_name: str
    client_id: str
    client_name: str
    site_id: str
    site_name: str
    condition: str
    severity: int
    summary: str
    message: str
    labels: dict[str, str]
    actions: RoutedActions
    rule_set_version: int = 0

    @property
    def dedup_key(self) -> str:
        """The ticket dedup key of this alert."""
        return dedup_key(
            tenant_id=self.tenant_id,
            device_id=self.device_id,
            device_name=self.device_name,
            condition=self.condition,
        )


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


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in any of its textual forms."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
