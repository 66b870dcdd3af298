"""Which channels an event goes to: policy matching, rule targets, and quiet-hour release."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.notify.domain.model import Severity
from services.notify.domain.quiet_hours import QuietHours

#: Event types a policy can select, as they appear in envelopes.
ALERT_ROUTED = "alert.routed"
ALERT_RESET_FAILED = "alert.reset_failed"
CHANNEL_FAILING = "notify.channel_failing"
TICKET_EVENTS = (
    "ticket.opened",
    "ticket.occurred",
    "ticket.updated",
    "ticket.commented",
    "ticket.closed",
    "ticket.reopened",
)
SLA_THRESHOLD = "sla.threshold"
SLA_BREACHED = "sla.breached"
#: Only a policy that selects it receives it (no SLA action names channels for it).
SLA_CANCELLED = "sla.cancelled"
EVENT_TYPES = (
    ALERT_ROUTED,
    *TICKET_EVENTS,
    SLA_THRESHOLD,
    SLA_BREACHED,
    SLA_CANCELLED,
    CHANNEL_FAILING,
    ALERT_RESET_FAILED,
)


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What policies can filter on; None means the event does not carry the attribute."""

    event_type: str
    severity: int | None = None
    priority: int | None = None
    client_id: str | None = None
    queue: str | None = None
    rule_ids: tuple[str, ...] = ()
    critical: bool = False
    target_channel_ids: tuple[str, ...] = ()
    target_rule_id: str | None = None
    exclude_channel_ids: frozenset[str] = frozenset()
    default_channels: bool = False
    """Also deliver to the tenant's default channels (an SLA notify action asked for them):
    see :func:`services.notify.domain.defaults.default_channel_ids`."""


@dataclass(frozen=True, slots=True)
class PolicyFilter:
    """Set fields combine with AND; list fields match any of their values."""

    min_severity: int | None = None
    priorities: frozenset[int] = frozenset()
    client_ids: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    rule_ids: frozenset[str] = frozenset()

    def matches(self, facts: EventFacts) -> bool:
        """Whether an event with ``facts`` passes every set filter."""
        if self.min_severity and (facts.severity is None or facts.severity < self.min_severity):
            return False
        if self.priorities and facts.priority not in self.priorities:
            return False
        if self.client_ids and facts.client_id not in self.client_ids:
            return False
        if self.queues and facts.queue not in self.queues:
            return False
        return not self.rule_ids or bool(self.rule_ids.intersection(facts.rule_ids))


@dataclass(frozen=True, slots=True)
class Policy:
    """A notification policy as matching needs it."""

    id: str
    event_types: frozenset[str]
    channel_ids: tuple[str, ...]
    filter: PolicyFilter = field(default_factory=PolicyFilter)
    disabled: bool = False

    def matches(self, facts: EventFacts) -> bool:
        """Whether this policy selects an event with ``facts``."""
        return (
            not self.disabled
            and facts.event_type in self.event_types
            and self.filter.matches(facts)
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One channel to deliver to and why: a policy, a rule's targets, or both."""

    channel_id: str
    policy_id: str | None
    rule_id: str | None


def plan_targets(
    policies: Iterable[Policy], facts: EventFacts, default_channel_ids: Sequence[str] = ()
) -> list[Target]:
    """One target per channel: matching policies first (in order), then rule targets, then
    the tenant's ``default_channel_ids`` when ``facts`` ask for them."""
    chosen: dict[str, Target] = {}
    for policy in policies:
        if not policy.matches(facts):
            continue
        for channel_id in policy.channel_ids:
            if channel_id not in chosen and channel_id not in facts.exclude_channel_ids:
                chosen[channel_id] = Target(channel_id, policy.id, None)
    for channel_id in facts.target_channel_ids:
        if channel_id in facts.exclude_channel_ids:
            continue
        existing = chosen.get(channel_id)
        if existing is None:
            chosen[channel_id] = Target(channel_id, None, facts.target_rule_id)
        elif existing.rule_id is None:
            chosen[channel_id] = Target(channel_id, existing.policy_id, facts.target_rule_id)
    if facts.default_channels:
        for channel_id in default_channel_ids:
            if channel_id not in chosen and channel_id not in facts.exclude_channel_ids:
                chosen[channel_id] = Target(channel_id, None, None)
    return list(chosen.values())


def quiet_release(
    windows: Sequence[QuietHours], at: datetime, *, critical: bool, hold_critical: bool
) -> datetime | None:
    """When a message produced at ``at`` may go out under all ``windows``; None for now.

    Critical messages pass unless ``hold_critical``; adjacent or overlapping windows
    are chained, so the release is the end of the whole quiet stretch.
    """
    if not windows or (critical and not hold_critical):
        return None
    release = at
    for _ in range(32):
        later = [
            end
            for window in windows
            if (end := window.release_time(release, Severity.INFO)) is not None
        ]
        if not later:
            break
        release = max(later)
    return release if release > at else None
