"""Validation and compilation of a tenant's rule set into a fast, immutable matcher."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2.environment import Template

from services.rules.domain.actions import EffectiveActions, priority_for, resolve_actions
from services.rules.domain.checks import (
    Check,
    ConditionIdentityCheck,
    Facts,
    IdOrNameCheck,
    SeverityCheck,
    ValueCheck,
)
from services.rules.domain.matching import condition_checks, integration_check
from services.rules.domain.model import (
    SEVERITY_NAMES,
    Actions,
    RoutableAlert,
    Rule,
    RuleSet,
    RuleValidationError,
    Violation,
)
from services.rules.domain.templates import compile_template

_SEVERITY_SLOTS = 7


class CompiledRule:
    """A validated rule: its checks cheapest first, compiled templates, resolved actions."""

    __slots__ = (
        "bit",
        "checks",
        "description_template",
        "effective",
        "index",
        "priorities",
        "residual",
        "rule",
        "title_template",
    )

    def __init__(
        self,
        rule: Rule,
        checks: list[Check],
        title_template: Template | None,
        description_template: Template | None,
    ) -> None:
        self.rule = rule
        self.checks = tuple(checks)
        self.residual = self.checks
        self.index = -1
        self.bit = 0
        self.title_template = title_template
        self.description_template = description_template
        self.effective = resolve_actions(rule.actions, matched=True)
        self.priorities = tuple(priority_for(rule.actions, s) for s in range(_SEVERITY_SLOTS))

    @property
    def id(self) -> str:
        """The rule's id."""
        return self.rule.id

    def matches(self, facts: Facts) -> bool:
        """Whether every condition holds (ignores `enabled`)."""
        return all(c.test(facts) for c in self.checks)


class _Dimension:
    """Bitmasks of the rules that accept each value of one alert attribute."""

    __slots__ = ("by_name", "by_value", "free", "key", "name_key")

    def __init__(
        self,
        key: Callable[[RoutableAlert], str | None],
        name_key: Callable[[RoutableAlert], str | None] | None = None,
    ) -> None:
        self.key = key
        self.name_key = name_key
        self.free = 0
        self.by_value: dict[str, int] = {}
        self.by_name: dict[str, int] = {}

    def constrain(self, bit: int, values: Iterable[str], names: Iterable[str] = ()) -> None:
        for value in values:
            self.by_value[value] = self.by_value.get(value, 0) | bit
        for name in names:
            self.by_name[name] = self.by_name.get(name, 0) | bit

    def seal(self) -> None:
        self.by_value = {v: m | self.free for v, m in self.by_value.items()}
        self.by_name = {v: m | self.free for v, m in self.by_name.items()}

    def mask(self, alert: RoutableAlert) -> int:
        value = self.key(alert)
        mask = self.free if value is None else self.by_value.get(value, self.free)
        if self.name_key is not None:
            name = self.name_key(alert)
            if name is not None:
                mask |= self.by_name.get(name.casefold(), self.free)
        return mask


def _folded(get: Callable[[RoutableAlert], str | None]) -> Callable[[RoutableAlert], str | None]:
    def key(alert: RoutableAlert) -> str | None:
        value = get(alert)
        return None if value is None else value.casefold()

    return key


class CompiledRuleSet:
    """A tenant's rule set compiled for matching; immutable and safe to share and cache."""

    __slots__ = (
        "_dimensions",
        "_enabled",
        "_severity",
        "default_actions",
        "default_description_template",
        "default_effective",
        "default_title_template",
        "rule_set",
        "rules",
        "zone",
    )

    def __init__(
        self,
        rule_set: RuleSet,
        zone: tzinfo,
        rules: list[CompiledRule],
        default_templates: tuple[Template | None, Template | None],
    ) -> None:
        self.rule_set = rule_set
        self.zone = zone
        self.rules = tuple(sorted(rules, key=lambda r: (r.rule.position, r.rule.id)))
        self.default_actions = rule_set.default_actions
        self.default_effective: EffectiveActions = resolve_actions(
            rule_set.default_actions, matched=False
        )
        self.default_title_template, self.default_description_template = default_templates
        self._index()

    @property
    def tenant_id(self) -> str:
        """The tenant the rules belong to."""
        return self.rule_set.tenant_id

    @property
    def version(self) -> int:
        """The rule set version routed events carry."""
        return self.rule_set.version

    def _index(self) -> None:
        scope = _Dimension(lambda a: a.integration_id)
        integration = _Dimension(lambda a: a.integration_id)
        provider = _Dimension(_folded(lambda a: a.provider))
        kind = _Dimension(lambda a: a.kind)
        client = _Dimension(lambda a: a.client_id, lambda a: a.client_name)
        site = _Dimension(lambda a: a.site_id, lambda a: a.site_name)
        condition = _Dimension(_folded(lambda a: a.condition))
        by_name: dict[str, _Dimension] = {
            "integration_scope": scope,
            "integration_ids": integration,
            "providers": provider,
            "kinds": kind,
            "clients": client,
            "sites": site,
            "conditions": condition,
        }
        severity = [0] * _SEVERITY_SLOTS
        enabled = 0
        for index, rule in enumerate(self.rules):
            bit = 1 << index
            rule.index, rule.bit = index, bit
            if rule.rule.enabled:
                enabled |= bit
            residual: list[Check] = []
            constrained: set[str] = set()
            minimum = 0
            for check in rule.checks:
                if isinstance(check, SeverityCheck):
                    minimum = check.minimum
                elif isinstance(check, ConditionIdentityCheck) and check.has_globs:
                    residual.append(check)
                    continue
                elif isinstance(check, IdOrNameCheck):
                    by_name[check.name].constrain(bit, check.values, check.folded)
                elif isinstance(check, ValueCheck | ConditionIdentityCheck):
                    values = check.values if isinstance(check, ValueCheck) else check.exact
                    by_name[check.name].constrain(bit, values)
                else:
                    residual.append(check)
                    continue
                constrained.add(check.name)
            for name, dimension in by_name.items():
                if name not in constrained:
                    dimension.free |= bit
            for s in range(_SEVERITY_SLOTS):
                if s >= minimum:
                    severity[s] |= bit
            rule.residual = tuple(residual)
        for dimension in by_name.values():
            dimension.seal()
        self._enabled = enabled
        self._severity = tuple(severity)
        self._dimensions = tuple(d for d in by_name.values() if d.by_value or d.by_name)

    def candidates(self, alert: RoutableAlert) -> int:
        """Bitmask of enabled rules whose indexed conditions accept the alert."""
        severity = alert.severity
        mask = (
            self._enabled
            & self._severity[
                0
                if severity < 0
                else severity
                if severity < _SEVERITY_SLOTS
                else _SEVERITY_SLOTS - 1
            ]
        )
        for dimension in self._dimensions:
            if not mask:
                break
            mask &= dimension.mask(alert)
        return mask

    def match(self, facts: Facts) -> list[CompiledRule]:
        """The matching rules in order: the first, plus later ones while `continue_` says so."""
        matched: list[CompiledRule] = []
        candidates = self.candidates(facts.alert)
        rules = self.rules
        while candidates:
            low = candidates & -candidates
            candidates ^= low
            rule = rules[low.bit_length() - 1]
            for check in rule.residual:
                if not check.test(facts):
                    break
            else:
                matched.append(rule)
                if not rule.rule.actions.continue_:
                    break
        return matched


def _validate_actions(
    actions: Actions, path: str, violations: list[Violation]
) -> tuple[Template | None, Template | None]:
    if actions.priority_override is not None and not 1 <= actions.priority_override <= 5:
        violations.append(Violation(f"{path}.priority_override", "must be in 1..5"))
    for severity, priority in (actions.priority_map or {}).items():
        if severity not in SEVERITY_NAMES:
            violations.append(
                Violation(f"{path}.priority_map[{severity}]", "severity must be in 1..5")
            )
        if not 1 <= priority <= 5:
            violations.append(
                Violation(f"{path}.priority_map[{severity}]", "priority must be in 1..5")
            )
    for i, channel in enumerate(actions.notify_channel_ids):
        if not channel:
            violations.append(Violation(f"{path}.notify_channel_ids[{i}]", "must not be empty"))
    if actions.persistence is not None:
        if actions.persistence.count < 1:
            violations.append(Violation(f"{path}.persistence.count", "must be at least 1"))
        if actions.persistence.within <= timedelta(0):
            violations.append(Violation(f"{path}.persistence.within", "must be positive"))
    templates: list[Template | None] = []
    for name in ("title_template", "description_template"):
        source = getattr(actions, name)
        templates.append(
            None if source is None else compile_template(source, f"{path}.{name}", violations)
        )
    return templates[0], templates[1]


def _compile_rule(rule: Rule, prefix: str, violations: list[Violation]) -> CompiledRule:
    if not rule.id:
        violations.append(Violation(f"{prefix}id", "must not be empty"))
    if not rule.name:
        violations.append(Violation(f"{prefix}name", "must not be empty"))
    checks: list[Check] = []
    for i, value in enumerate(rule.integration_ids):
        if not value:
            violations.append(Violation(f"{prefix}integration_ids[{i}]", "must not be empty"))
    if rule.integration_ids:
        checks.append(integration_check("integration_scope", rule.integration_ids))
    checks.extend(condition_checks(rule.conditions, f"{prefix}conditions", violations))
    title, description = _validate_actions(rule.actions, f"{prefix}actions", violations)
    return CompiledRule(rule, checks, title, description)


def validate_rule(rule: Rule) -> list[Violation]:
    """Every problem with one rule, with paths relative to it (`conditions.message_regex`)."""
    violations: list[Violation] = []
    _compile_rule(rule, "", violations)
    return violations


def _build(rule_set: RuleSet, violations: list[Violation]) -> CompiledRuleSet | None:
    zone: tzinfo | None = None
    try:
        zone = ZoneInfo(rule_set.time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        violations.append(Violation("time_zone", f"unknown time zone {rule_set.time_zone!r}"))
    if rule_set.version < 0:
        violations.append(Violation("version", "must not be negative"))
    seen: set[str] = set()
    compiled: list[CompiledRule] = []
    for i, rule in enumerate(rule_set.rules):
        if rule.id in seen:
            violations.append(Violation(f"rules[{i}].id", f"duplicate rule id {rule.id!r}"))
        seen.add(rule.id)
        compiled.append(_compile_rule(rule, f"rules[{i}].", violations))
    if rule_set.default_actions.continue_:
        violations.append(
            Violation("default_actions.continue_", "has no meaning for the default actions")
        )
    defaults = _validate_actions(rule_set.default_actions, "default_actions", violations)
    if violations or zone is None:
        return None
    return CompiledRuleSet(rule_set, zone, compiled, defaults)


def validate_rule_set(rule_set: RuleSet) -> list[Violation]:
    """Every problem with a rule set, paths from its root (`rules[2].conditions.kinds[0]`)."""
    violations: list[Violation] = []
    _build(rule_set, violations)
    return violations


def compile_rule_set(rule_set: RuleSet) -> CompiledRuleSet:
    """Validate and compile a rule set; raises RuleValidationError listing every violation."""
    violations: list[Violation] = []
    compiled = _build(rule_set, violations)
    if compiled is None:
        raise RuleValidationError.from_violations(violations)
    return compiled
