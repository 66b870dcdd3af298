"""SLA policies as plain values: targets, thresholds, validation, JSON snapshots, the
default preset, and which policy applies to a ticket.

Priorities and ticket statuses are the integer values of the ``triage.tickets.v1`` enums
(P1 = 1 ... P5 = 5; AWAITING_CUSTOMER = 4), so this module needs no protobuf.
Threshold actions are opaque JSON objects here: only the tickets and notify services
interpret them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from typing import Any

from services.sla.domain.calendar import BusinessCalendar
from services.sla.domain.calendar_spec import CalendarSpec
from services.sla.domain.clock import DEFAULT_THRESHOLDS, TargetKind
from services.sla.domain.violation import Violation

__all__ = [
    "AWAITING_CUSTOMER",
    "DEFAULT_PAUSE_STATUSES",
    "FirstResponse",
    "PolicySpec",
    "ScopeKind",
    "Target",
    "Targets",
    "ThresholdRule",
    "default_policy",
    "notify_default_channels",
]

AWAITING_CUSTOMER = 4
DEFAULT_PAUSE_STATUSES: frozenset[int] = frozenset({AWAITING_CUSTOMER})
PRIORITIES = range(1, 6)
STATUSES = range(1, 7)


class ScopeKind(IntEnum):
    """Which tickets a policy applies to (values of ``PolicyScopeKind``)."""

    UNSPECIFIED = 0
    TENANT_DEFAULT = 1
    CLIENT = 2
    QUEUE = 3


class FirstResponse(IntEnum):
    """What counts as the first response (values of ``FirstResponseDefinition``)."""

    UNSPECIFIED = 0
    PUBLIC_HUMAN_COMMENT = 1
    ANY_HUMAN_COMMENT = 2
    ANY_HUMAN_TOUCH = 3
    STATUS_CHANGE = 4


@dataclass(frozen=True, slots=True)
class Target:
    """One promise: a duration in business or calendar (24x7) time."""

    duration: timedelta
    business_time: bool = True


@dataclass(frozen=True, slots=True)
class Targets:
    """The targets of one priority."""

    priority: int
    first_response: Target | None = None
    resolution: Target | None = None

    def of(self, kind: TargetKind) -> Target | None:
        """The target for ``kind``."""
        return self.first_response if kind is TargetKind.FIRST_RESPONSE else self.resolution


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """At ``percent`` of the targets of ``kinds`` (empty: both), run ``actions``."""

    percent: int
    kinds: frozenset[TargetKind] = frozenset()
    actions: tuple[dict[str, Any], ...] = ()

    def applies_to(self, kind: TargetKind) -> bool:
        """Whether this threshold watches clocks of ``kind``."""
        return not self.kinds or kind in self.kinds


def notify_default_channels() -> dict[str, Any]:
    """The action that notifies the tenant's default channels (notify resolves them)."""
    return {"notify": {"default_channels": True}}


# The breach tells someone by default: notify sends it to the tenant's default channels
# when it has any, so a new tenant's breaches are not silent.
DEFAULT_THRESHOLD_RULES = tuple(
    ThresholdRule(p, actions=(notify_default_channels(),) if p == 100 else ())
    for p in DEFAULT_THRESHOLDS
)


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A tenant's SLA policy as stored and snapshotted."""

    id: str
    name: str
    scope: ScopeKind
    client_id: str = ""
    queue: str = ""
    calendar_id: str = ""
    targets: tuple[Targets, ...] = ()
    thresholds: tuple[ThresholdRule, ...] = DEFAULT_THRESHOLD_RULES
    pause_statuses: frozenset[int] = DEFAULT_PAUSE_STATUSES
    first_response: FirstResponse = FirstResponse.PUBLIC_HUMAN_COMMENT
    version: int = 0

    def targets_for(self, priority: int) -> Targets | None:
        """The targets of ``priority``; None when the priority has no SLA."""
        return next((t for t in self.targets if t.priority == priority), None)

    def needs_calendar(self) -> bool:
        """Whether any target counts business time."""
        return any(
            t is not None and t.business_time
            for targets in self.targets
            for t in (targets.first_response, targets.resolution)
        )

    def percents(self, kind: TargetKind) -> tuple[int, ...]:
        """The threshold percents of clocks of ``kind``; 100 (the breach) always included."""
        return tuple(sorted({100, *(t.percent for t in self.thresholds if t.applies_to(kind))}))

    def actions(self, kind: TargetKind, percent: int) -> tuple[dict[str, Any], ...]:
        """The actions configured for ``percent`` of ``kind``."""
        found: list[dict[str, Any]] = []
        for rule in self.thresholds:
            if rule.percent == percent and rule.applies_to(kind):
                found.extend(rule.actions)
        return tuple(found)

    def validate(self, prefix: str = "sla_policy") -> list[Violation]:
        """Every problem with this policy, as field violations."""
        bad: list[Violation] = []
        if not self.name.strip():
            bad.append(Violation(f"{prefix}.display_name", "is required"))
        if self.scope is ScopeKind.UNSPECIFIED:
            bad.append(Violation(f"{prefix}.scope.kind", "is required"))
        if self.scope is ScopeKind.CLIENT and not self.client_id:
            bad.append(Violation(f"{prefix}.scope.client_id", "is required for a client scope"))
        if self.scope is ScopeKind.QUEUE and not self.queue:
            bad.append(Violation(f"{prefix}.scope.queue", "is required for a queue scope"))
        seen: set[int] = set()
        for i, targets in enumerate(self.targets):
            path = f"{prefix}.targets[{i}]"
            if targets.priority not in PRIORITIES:
                bad.append(Violation(f"{path}.priority", "must be P1 to P5"))
            elif targets.priority in seen:
                bad.append(Violation(f"{path}.priority", "is listed twice"))
            seen.add(targets.priority)
            for name, target in (
                ("first_response", targets.first_response),
                ("resolution", targets.resolution),
            ):
                if target is not None and target.duration <= timedelta(0):
                    bad.append(Violation(f"{path}.{name}.duration", "must be positive"))
        for i, rule in enumerate(self.thresholds):
            if not 1 <= rule.percent <= 100:
                bad.append(
                    Violation(f"{prefix}.thresholds[{i}].percent", "must be between 1 and 100")
                )
        for status in self.pause_statuses:
            if status not in STATUSES or status >= 5:
                bad.append(
                    Violation(f"{prefix}.pause_statuses", f"status {status} cannot pause a clock")
                )
        if self.needs_calendar() and not self.calendar_id:
            bad.append(Violation(f"{prefix}.calendar_id", "is required for business-time targets"))
        return bad

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "id": self.id,
            "name": self.name,
            "scope": int(self.scope),
            "client_id": self.client_id,
            "queue": self.queue,
            "calendar_id": self.calendar_id,
            "targets": [
                {
                    "priority": t.priority,
                    "first_response": _target_json(t.first_response),
                    "resolution": _target_json(t.resolution),
                }
                for t in self.targets
            ],
            "thresholds": [
                {
                    "percent": r.percent,
                    "kinds": sorted(k.value for k in r.kinds),
                    "actions": list(r.actions),
                }
                for r in self.thresholds
            ],
            "pause_statuses": sorted(self.pause_statuses),
            "first_response": int(self.first_response),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicySpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            id=data["id"],
            name=data["name"],
            scope=ScopeKind(data["scope"]),
            client_id=data["client_id"],
            queue=data["queue"],
            calendar_id=data["calendar_id"],
            targets=tuple(
                Targets(
                    t["priority"],
                    _target_from(t["first_response"]),
                    _target_from(t["resolution"]),
                )
                for t in data["targets"]
            ),
            thresholds=tuple(
                ThresholdRule(
                    r["percent"],
                    frozenset(TargetKind(k) for k in r["kinds"]),
                    tuple(r["actions"]),
                )
                for r in data["thresholds"]
            ),
            pause_statuses=frozenset(data["pause_statuses"]),
            first_response=FirstResponse(data["first_response"]),
            version=int(data["version"]),
        )


def _target_json(target: Target | None) -> dict[str, Any] | None:
    if target is None:
        return None
    return {"seconds": target.duration.total_seconds(), "business_time": target.business_time}


def _target_from(data: Mapping[str, Any] | None) -> Target | None:
    if data is None:
        return None
    return Target(timedelta(seconds=data["seconds"]), bool(data["business_time"]))


MINUTE = timedelta(minutes=1)
_PRESET: tuple[tuple[int, int, int, bool], ...] = (
    (1, 15, 60, False),
    (2, 30, 240, True),
    (3, 60, 1440, True),
    (4, 240, 4320, True),
    (5, 480, 10080, True),
)


def default_policy() -> PolicySpec:
    """Alga PSA's ITIL preset: P1 15/60 min 24x7; P2-P5 in business time."""
    return PolicySpec(
        id="",
        name="Default (ITIL preset)",
        scope=ScopeKind.TENANT_DEFAULT,
        targets=tuple(
            Targets(p, Target(fr * MINUTE, business), Target(res * MINUTE, business))
            for p, fr, res, business in _PRESET
        ),
    )


def select_policy(
    policies: Iterable[PolicySpec], *, client_id: str, queue: str
) -> PolicySpec | None:
    """The policy in force for a ticket: client > queue > tenant default."""
    by_kind: dict[ScopeKind, PolicySpec] = {}
    for policy in policies:
        if (
            (policy.scope is ScopeKind.CLIENT and client_id and policy.client_id == client_id)
            or (policy.scope is ScopeKind.QUEUE and queue and policy.queue == queue)
            or policy.scope is ScopeKind.TENANT_DEFAULT
        ):
            by_kind.setdefault(policy.scope, policy)
    for kind in (ScopeKind.CLIENT, ScopeKind.QUEUE, ScopeKind.TENANT_DEFAULT):
        if kind in by_kind:
            return by_kind[kind]
    return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The policy and calendar a ticket's clocks were started with."""

    policy: PolicySpec
    calendar: CalendarSpec
    _business: list[BusinessCalendar] = field(default_factory=list, compare=False, repr=False)

    @property
    def business(self) -> BusinessCalendar:
        """The calendar for business-time math (built once)."""
        if not self._business:
            self._business.append(self.calendar.business_calendar())
        return self._business[0]


def threshold_channels(thresholds: Sequence[ThresholdRule]) -> list[tuple[str, str]]:
    """Every channel id of a notify action, with its path in the request."""
    found: list[tuple[str, str]] = []
    for i, threshold in enumerate(thresholds):
        for j, action in enumerate(threshold.actions):
            notify = action.get("notify")
            if not isinstance(notify, dict):
                continue
            for k, channel_id in enumerate(notify.get("channel_ids") or ()):
                path = f"sla_policy.thresholds[{i}].actions[{j}].notify.channel_ids[{k}]"
                found.append((path, str(channel_id)))
    return found
