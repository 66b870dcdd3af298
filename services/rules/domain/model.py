"""Entities of the rules domain: alerts as the router sees them, rules, and errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import ClassVar, Final, Literal

LabelOp = Literal["=", "!=", "=~", "!~"]
LABEL_OPS: Final = frozenset({"=", "!=", "=~", "!~"})

ALERT_KINDS: Final = frozenset({"trigger", "reset", "acknowledge", "info"})

_EMPTY_LABELS: Final[Mapping[str, str]] = MappingProxyType({})


class Severity(IntEnum):
    """Normalized alert severity; higher is worse."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


SEVERITY_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {s.value: s.name.lower() for s in Severity}
)

# PSA convention: priority 1 is the most urgent.
DEFAULT_PRIORITY_MAP: Final[Mapping[int, int]] = MappingProxyType(
    {Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.MEDIUM: 3, Severity.LOW: 4, Severity.INFO: 5}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutableAlert:
    """A normalized alert with everything the router may look at."""

    alert_id: str
    tenant_id: str
    integration_id: str
    provider: str
    kind: str
    series_key: str
    condition: str
    severity: int
    title: str
    received_at: datetime
    device_id: str | None = None
    device_name: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    site_id: str | None = None
    site_name: str | None = None
    raw_severity: str = ""
    message: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY_LABELS)
    occurred_at: datetime | None = None

    @property
    def event_time(self) -> datetime:
        """When the alert happened: `occurred_at` if the source said so, else `received_at`."""
        return self.occurred_at if self.occurred_at is not None else self.received_at


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """One Alertmanager-style label matcher; a missing label equals the empty string."""

    name: str
    op: LabelOp
    value: str


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Local time of day `[start, end)`; `end <= start` crosses midnight, `end == start` is 24h."""

    start: time
    end: time


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """Days of week (0 = Monday) and time ranges, in `time_zone` (else the tenant's zone).

    Empty parts match all.

    A range that crosses midnight belongs to the day it starts on: Friday 22:00-06:00
    covers Saturday 03:00.
    """

    days: frozenset[int] = frozenset()
    ranges: tuple[TimeRange, ...] = ()
    time_zone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Conditions:
    """What an alert must look like for a rule to match; every present part must match."""

    providers: tuple[str, ...] = ()
    integration_ids: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    device_globs: tuple[str, ...] = ()
    min_severity: int | None = None
    kinds: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    message_regex: str | None = None
    keywords: tuple[str, ...] = ()
    label_matchers: tuple[LabelMatcher, ...] = ()
    schedule: Schedule | None = None


@dataclass(frozen=True, slots=True)
class Persistence:
    """Open a ticket only after `count` triggers within `within`."""

    count: int
    within: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class Actions:
    """What a matching rule asks for. `None` means "not set by this rule".

    Unset values resolve to: create_ticket True for a matched rule and False for the
    rule set's default (record only), close_on_reset True, reset_in_rmm_on_close True,
    priority from DEFAULT_PRIORITY_MAP, title and description from the alert.
    """

    create_ticket: bool | None = None
    priority_map: Mapping[int, int] | None = None
    priority_override: int | None = None
    queue: str | None = None
    assignee: str | None = None
    title_template: str | None = None
    description_template: str | None = None
    close_on_reset: bool | None = None
    reset_in_rmm_on_close: bool | None = None
    notify_channel_ids: tuple[str, ...] = ()
    persistence: Persistence | None = None
    continue_: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One ordered routing rule, optionally scoped to some integrations."""

    id: str
    name: str
    position: int
    enabled: bool = True
    integration_ids: tuple[str, ...] = ()
    conditions: Conditions = field(default_factory=Conditions)
    actions: Actions = field(default_factory=Actions)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    """A tenant's rules at one version, with the actions for alerts no rule matches."""

    tenant_id: str
    version: int
    time_zone: str = "UTC"
    rules: tuple[Rule, ...] = ()
    default_actions: Actions = field(default_factory=Actions)


@dataclass(frozen=True, slots=True)
class Violation:
    """One invalid field, named by its path (`rules[2].conditions.message_regex`)."""

    field_path: str
    message: str


class RuleValidationError(ValueError):
    """A rule set, rule or window is invalid; `violations` holds every problem found."""

    reason: ClassVar[str] = "RULE_INVALID"

    def __init__(self, field_path: str, message: str, violations: tuple[Violation, ...] = ()):
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path
        self.message = message
        self.violations = violations or (Violation(field_path, message),)

    @classmethod
    def from_violations(cls, violations: list[Violation]) -> RuleValidationError:
        """Build the error from a non-empty list of violations, headed by the first."""
        first = violations[0]
        return cls(first.field_path, first.message, tuple(violations))


class WindowValidationError(RuleValidationError):
    """A maintenance window is invalid."""

    reason: ClassVar[str] = "WINDOW_INVALID"
