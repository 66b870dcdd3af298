"""Pure decisions of the alert path: routed alerts, what a trigger and a reset do, the
persistence delay, reopening, occurrence comments."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.tickets.domain.incidents import Correlation
from services.tickets.domain.tickets import CloseReason, Priority, TenantSettings, dedup_key

#: The label ingest sets on a reset that was found (polled) rather than sent by the RMM.
RESET_ORIGIN_LABEL = "triage.reset_origin"


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
    closed_at: datetime | None,
    *,
    occurred_at: datetime,
    settings: TenantSettings,
    same_series: bool = True,
) -> bool:
    """Whether a ticket closed at ``closed_at`` is reopened by a trigger at ``occurred_at``
    (``same_series``: the trigger's series is one the ticket holds; flap damping reopens
    only those, ``reopen_within`` any ticket of the key)."""
    window = settings.reopen_window if same_series else settings.reopen_within
    if closed_at is None or window <= timedelta(0):
        return False
    return occurred_at - closed_at <= window


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
    #: A silent source's alert, cleared because the source sent something again.
    SOURCE_SENDING = "source_sending"


def reset_origin(labels: dict[str, str]) -> ResetOrigin:
    """Whether the RMM reset the alert, it was found no longer active, or a silent source
    is sending again (``triage.reset_origin``; anything else is an RMM reset)."""
    label = labels.get(RESET_ORIGIN_LABEL, "").lower()
    if label in (ResetOrigin.INACTIVE.value, ResetOrigin.SOURCE_SENDING.value):
        return ResetOrigin(label)
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

    Closing asks ingest to reset the alert in the RMM only when the rule asks and the alert
    was found no longer active (the RMM reset it itself; a silent source's alert is not in
    the RMM).
    """
    if origin is ResetOrigin.INACTIVE:
        said = f"The alert (series {series_key}) is no longer active in the RMM (found by polling)"
        reason = CloseReason.ALERT_INACTIVE
    elif origin is ResetOrigin.SOURCE_SENDING:
        said = f"The source is sending again (series {series_key})"
        reason = CloseReason.ALERT_RESET
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
        reset_alert=reset_in_rmm_on_close and origin is ResetOrigin.INACTIVE,
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
    #: The correlation rule's verdict (issue 19); None: no rule matched.
    correlation: Correlation | None = None

    @property
    def dedup_key(self) -> str:
        """The ticket dedup key of this alert."""
        return dedup_key(
            tenant_id=self.tenant_id,
            device_id=self.device_id,
            device_name=self.device_name,
            condition=self.condition,
        )
