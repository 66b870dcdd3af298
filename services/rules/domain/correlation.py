"""Correlation rules: which alerts group into one incident, by what key, within how long.

Pure. A tenant's correlation rules compile once per rule-set version; ``correlate`` gives an
alert the first matching rule's group key. The filter reuses the routing rules' condition
language and compiler (same matching, RE2, bounds) but only with conditions that every
alert of one series answers alike, so a series' trigger and reset always share a key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from typing import Final

from services.rules.domain.checks import Check, Facts
from services.rules.domain.matching import condition_checks
from services.rules.domain.model import Conditions, RoutableAlert, Violation

MIN_WINDOW: Final = timedelta(minutes=1)
MAX_WINDOW: Final = timedelta(hours=24)
MAX_GROUP_BY: Final = 10
#: A group key longer than this is hashed (ordering keys stay short and subject-safe).
MAX_PLAIN_KEY: Final = 200
LABEL_PREFIX: Final = "labels."
GROUP_FIELDS: Final = (
    "client_id",
    "client_name",
    "site_id",
    "site_name",
    "device_id",
    "device_name",
    "integration_id",
    "provider",
    "condition",
)
#: Conditions whose answer may change between alerts of one series: not allowed in a
#: correlation filter (they may be used in the primary filter).
SERIES_VARIANT: Final = (
    ("kinds", "kinds"),
    ("min_severity", "min_severity"),
    ("message_regex", "message_regex"),
    ("keywords", "keywords"),
    ("schedule", "time_conditions"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationRule:
    """One ordered correlation rule."""

    id: str
    name: str
    position: int
    enabled: bool = True
    conditions: Conditions = field(default_factory=Conditions)
    group_by: tuple[str, ...] = ()
    window: timedelta = timedelta(minutes=5)
    primary: Conditions | None = None


@dataclass(frozen=True, slots=True)
class Correlation:
    """How one alert was correlated: the rule, the group key and its values, the window,
    and whether the alert is primary."""

    rule_id: str
    rule_name: str
    group_key: str
    window: timedelta
    primary: bool
    values: tuple[tuple[str, str], ...]


def group_value(alert: RoutableAlert, path: str) -> str | None:
    """The value of a group-by field path on ``alert`` (None when the alert lacks it)."""
    if path.startswith(LABEL_PREFIX):
        return alert.labels.get(path.removeprefix(LABEL_PREFIX))
    value = getattr(alert, path)
    return None if value in (None, "") else str(value)


def group_key(rule_id: str, values: Sequence[tuple[str, str]]) -> str:
    """The stable group key of a rule and its field values: readable when short, else the
    SHA-256 of the values (the same values always give the same key)."""
    body = "|".join(f"{f}={v.replace('|', '%7C')}" for f, v in values)
    plain = f"corr:{rule_id}:{body}"
    if len(plain) <= MAX_PLAIN_KEY:
        return plain
    return f"corr:{rule_id}:sha256:{hashlib.sha256(body.encode()).hexdigest()}"


def _validate_group_by(group_by: tuple[str, ...], violations: list[Violation]) -> None:
    if not group_by:
        violations.append(Violation("group_by", "must name at least one field"))
    if len(group_by) > MAX_GROUP_BY:
        violations.append(Violation("group_by", f"must name at most {MAX_GROUP_BY} fields"))
    seen: set[str] = set()
    for i, path in enumerate(group_by):
        if path in seen:
            violations.append(Violation(f"group_by[{i}]", f"{path!r} is listed twice"))
        seen.add(path)
        label = path.removeprefix(LABEL_PREFIX)
        if path.startswith(LABEL_PREFIX) and label and len(label) <= 256:
            continue
        if path not in GROUP_FIELDS:
            violations.append(
                Violation(
                    f"group_by[{i}]",
                    f"unknown field {path!r}: use one of {', '.join(GROUP_FIELDS)} "
                    "or labels.<name>",
                )
            )


class CompiledCorrelationRule:
    """A validated correlation rule: its filter and primary checks."""

    __slots__ = ("checks", "primary_checks", "rule")

    def __init__(
        self, rule: CorrelationRule, checks: list[Check], primary: list[Check] | None
    ) -> None:
        self.rule = rule
        self.checks = tuple(checks)
        self.primary_checks = None if primary is None else tuple(primary)

    def matches(self, facts: Facts) -> bool:
        """Whether the filter accepts the alert (ignores ``enabled``)."""
        return all(c.test(facts) for c in self.checks)

    def is_primary(self, facts: Facts) -> bool:
        """Whether the alert matches the primary filter (False without one)."""
        return self.primary_checks is not None and all(c.test(facts) for c in self.primary_checks)


def compile_correlation_rule(
    rule: CorrelationRule, violations: list[Violation], prefix: str = ""
) -> CompiledCorrelationRule:
    """Compile one rule, appending every problem to ``violations`` (paths under ``prefix``)."""
    found: list[Violation] = []
    if not rule.name:
        found.append(Violation("name", "must not be empty"))
    for domain_name, api_name in SERIES_VARIANT:
        if getattr(rule.conditions, domain_name):
            found.append(
                Violation(
                    f"conditions.{api_name}",
                    "may differ between alerts of one series, so a trigger and its reset "
                    "could fall in different groups; put it in primary_conditions instead",
                )
            )
    checks = condition_checks(rule.conditions, "conditions", found)
    _validate_group_by(rule.group_by, found)
    if not MIN_WINDOW <= rule.window <= MAX_WINDOW:
        found.append(Violation("window", "must be between 1 minute and 24 hours"))
    primary = None
    if rule.primary is not None:
        if rule.primary == Conditions():
            found.append(
                Violation("primary_conditions", "must set a condition (unset it for none)")
            )
        primary = condition_checks(rule.primary, "primary_conditions", found)
    violations.extend(Violation(prefix + v.field_path, v.message) for v in found)
    return CompiledCorrelationRule(rule, checks, primary)


def validate_correlation_rule(rule: CorrelationRule) -> list[Violation]:
    """Every problem with one correlation rule, paths relative to it."""
    violations: list[Violation] = []
    compile_correlation_rule(rule, violations)
    return violations


class CompiledCorrelationSet:
    """A tenant's correlation rules in order; immutable and safe to share and cache."""

    __slots__ = ("rules", "zone")

    def __init__(self, rules: Sequence[CompiledCorrelationRule], zone: tzinfo) -> None:
        self.rules = tuple(sorted(rules, key=lambda r: (r.rule.position, r.rule.id)))
        self.zone = zone

    def correlate(self, alert: RoutableAlert) -> Correlation | None:
        """The first enabled rule whose filter matches and whose group fields the alert
        has all gives its correlation; None when no rule does."""
        if not self.rules:
            return None
        facts = Facts(alert, self.zone)
        for compiled in self.rules:
            rule = compiled.rule
            if not rule.enabled or not compiled.matches(facts):
                continue
            values: list[tuple[str, str]] = []
            for path in rule.group_by:
                value = group_value(alert, path)
                if value is None:
                    break
                values.append((path, value))
            else:
                return Correlation(
                    rule_id=rule.id,
                    rule_name=rule.name,
                    group_key=group_key(rule.id, values),
                    window=rule.window,
                    primary=compiled.is_primary(facts),
                    values=tuple(values),
                )
        return None


def compile_stored_correlation(
    rules: Sequence[CorrelationRule], zone: tzinfo
) -> CompiledCorrelationSet:
    """Compile stored rules (validated when written); one the checks now refuse is left out."""
    compiled: list[CompiledCorrelationRule] = []
    for rule in rules:
        violations: list[Violation] = []
        candidate = compile_correlation_rule(rule, violations)
        if not violations:
            compiled.append(candidate)
    return CompiledCorrelationSet(compiled, zone)


#: No correlation rules.
EMPTY_CORRELATION: Final = CompiledCorrelationSet((), UTC)


@dataclass(frozen=True, slots=True)
class CorrelationDraft:
    """A correlation rule to store: its column ``values`` (conditions as stored JSON), the
    domain rule they make, and what is wrong with it (paths as the caller names them)."""

    values: dict[str, object]
    rule: CorrelationRule
    violations: tuple[Violation, ...] = ()
