"""Building the checks of rule conditions and window scopes, recording what is invalid."""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.rules.domain.checks import (
    Check,
    CompiledLabelMatcher,
    ConditionIdentityCheck,
    DeviceGlobCheck,
    IdOrNameCheck,
    KeywordsCheck,
    LabelMatchersCheck,
    MessageRegexCheck,
    ScheduleCheck,
    SeverityCheck,
    ValueCheck,
)
from services.rules.domain.model import (
    ALERT_KINDS,
    LABEL_OPS,
    SEVERITY_NAMES,
    Conditions,
    LabelMatcher,
    Schedule,
    Violation,
)
from services.rules.domain.patterns import Regex, compile_globs, compile_regex

_GLOB_CHARS = frozenset("*?[")


def _compile_globs(globs: tuple[str, ...], path: str, violations: list[Violation]) -> Regex | None:
    ok = True
    for i, glob in enumerate(globs):
        if not glob:
            violations.append(Violation(f"{path}[{i}]", "must not be empty"))
            ok = False
    if not ok or not globs:
        return None
    return compile_globs(globs, path, violations)


def _non_empty(values: tuple[str, ...], path: str, violations: list[Violation]) -> None:
    for i, value in enumerate(values):
        if not value:
            violations.append(Violation(f"{path}[{i}]", "must not be empty"))


def compile_label_matchers(
    matchers: tuple[LabelMatcher, ...], path: str, violations: list[Violation]
) -> LabelMatchersCheck | None:
    """Compile label matchers into one check, or record what is wrong with them."""
    compiled: list[CompiledLabelMatcher] = []
    before = len(violations)
    for i, m in enumerate(matchers):
        item = f"{path}[{i}]"
        if not m.name:
            violations.append(Violation(f"{item}.name", "must not be empty"))
        if m.op not in LABEL_OPS:
            violations.append(
                Violation(f"{item}.op", f"must be one of {sorted(LABEL_OPS)}, not {m.op!r}")
            )
            continue
        regex = None
        if m.op in ("=~", "!~"):
            regex = compile_regex(m.value, f"{item}.value", violations)
        compiled.append(CompiledLabelMatcher(m, regex))
    if len(violations) > before or not compiled:
        return None
    return LabelMatchersCheck(tuple(compiled))


def client_check(values: tuple[str, ...]) -> IdOrNameCheck:
    """A check on the alert's client id or name."""
    return IdOrNameCheck(
        "clients", "client", lambda a: a.client_id, lambda a: a.client_name, values
    )


def site_check(values: tuple[str, ...]) -> IdOrNameCheck:
    """A check on the alert's site id or name."""
    return IdOrNameCheck("sites", "site", lambda a: a.site_id, lambda a: a.site_name, values)


def integration_check(name: str, values: tuple[str, ...]) -> ValueCheck:
    """A check on the alert's integration id."""
    return ValueCheck(name, "integration", lambda a: a.integration_id, values, fold=False)


def scope_checks(
    *,
    integration_ids: tuple[str, ...],
    clients: tuple[str, ...],
    sites: tuple[str, ...],
    device_globs: tuple[str, ...],
    label_matchers: tuple[LabelMatcher, ...],
    path: str,
    violations: list[Violation],
) -> list[Check]:
    """Checks for the scope fields that rules and windows share, cheap ones first."""
    checks: list[Check] = []
    _non_empty(integration_ids, f"{path}.integration_ids", violations)
    _non_empty(clients, f"{path}.clients", violations)
    _non_empty(sites, f"{path}.sites", violations)
    if integration_ids:
        checks.append(integration_check("integration_ids", integration_ids))
    if clients:
        checks.append(client_check(clients))
    if sites:
        checks.append(site_check(sites))
    if device_globs:
        regex = _compile_globs(device_globs, f"{path}.device_globs", violations)
        if regex is not None:
            checks.append(DeviceGlobCheck(device_globs, regex))
    if label_matchers:
        lm = compile_label_matchers(label_matchers, f"{path}.label_matchers", violations)
        if lm is not None:
            checks.append(lm)
    return checks


def _validate_schedule(schedule: Schedule, path: str, violations: list[Violation]) -> tzinfo | None:
    zone: tzinfo | None = None
    if schedule.time_zone:
        try:
            zone = ZoneInfo(schedule.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            violations.append(
                Violation(f"{path}.time_zone", f"unknown time zone {schedule.time_zone!r}")
            )
    for day in sorted(schedule.days):
        if not 0 <= day <= 6:
            violations.append(Violation(f"{path}.days", f"day {day} is not in 0..6 (Mon..Sun)"))
    for i, r in enumerate(schedule.ranges):
        for part in ("start", "end"):
            value = getattr(r, part)
            if value.tzinfo is not None:
                violations.append(
                    Violation(
                        f"{path}.ranges[{i}].{part}",
                        "must be a local time without a zone (the tenant's zone applies)",
                    )
                )
    return zone


def condition_checks(conditions: Conditions, path: str, violations: list[Violation]) -> list[Check]:
    """Compile a rule's conditions into checks ordered cheapest first."""
    checks: list[Check] = []
    c = conditions
    _non_empty(c.providers, f"{path}.providers", violations)
    if c.providers:
        checks.append(
            ValueCheck("providers", "provider", lambda a: a.provider, c.providers, fold=True)
        )
    for i, kind in enumerate(c.kinds):
        if kind not in ALERT_KINDS:
            violations.append(
                Violation(f"{path}.kinds[{i}]", f"must be one of {sorted(ALERT_KINDS)}")
            )
    if c.kinds:
        checks.append(ValueCheck("kinds", "kind", lambda a: a.kind, c.kinds, fold=False))
    if c.min_severity is not None:
        if c.min_severity not in SEVERITY_NAMES:
            violations.append(Violation(f"{path}.min_severity", "must be in 1..5"))
        else:
            checks.append(SeverityCheck(c.min_severity))
    if c.conditions:
        _non_empty(c.conditions, f"{path}.conditions", violations)
        exact = frozenset(p.casefold() for p in c.conditions if not _GLOB_CHARS & set(p))
        globs = tuple(p for p in c.conditions if _GLOB_CHARS & set(p))
        regex = _compile_globs(globs, f"{path}.conditions", violations) if globs else None
        checks.append(ConditionIdentityCheck(c.conditions, exact, regex))
    checks.extend(
        scope_checks(
            integration_ids=c.integration_ids,
            clients=c.clients,
            sites=c.sites,
            device_globs=(),
            label_matchers=(),
            path=path,
            violations=violations,
        )
    )
    if c.keywords:
        _non_empty(c.keywords, f"{path}.keywords", violations)
        checks.append(KeywordsCheck(k for k in c.keywords if k))
    checks.extend(
        scope_checks(
            integration_ids=(),
            clients=(),
            sites=(),
            device_globs=c.device_globs,
            label_matchers=c.label_matchers,
            path=path,
            violations=violations,
        )
    )
    if c.message_regex is not None:
        regex = compile_regex(c.message_regex, f"{path}.message_regex", violations)
        if regex is not None:
            checks.append(MessageRegexCheck(regex))
    if c.schedule is not None:
        zone = _validate_schedule(c.schedule, f"{path}.schedule", violations)
        checks.append(ScheduleCheck(c.schedule, zone))
    return checks
