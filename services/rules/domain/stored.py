"""Compiling what storage holds: a row the current checks refuse is made harmless, not fatal.

Validation tightened (RE2 regexes, bounded recurrences), so a rule or window saved before
may no longer compile. On the routing path one such row must not fail its tenant's alerts,
nor the batch they share with other tenants: a refused window is never in force (alerts
route: failing open), a refused rule is disabled. Writes still validate strictly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from services.rules.domain.compiler import CompiledRuleSet, compile_rule_set, validate_rule
from services.rules.domain.model import (
    Actions,
    Conditions,
    RuleSet,
    RuleValidationError,
    WindowValidationError,
)
from services.rules.domain.windows import (
    CompiledWindow,
    CompiledWindowSet,
    MaintenanceWindow,
    compile_window,
    inert_window,
)


def compile_stored_windows(windows: Iterable[MaintenanceWindow]) -> CompiledWindowSet:
    """Compile stored windows; one that no longer validates is compiled as never in force."""
    compiled: list[CompiledWindow] = []
    for window in windows:
        try:
            compiled.append(compile_window(window))
        except WindowValidationError:
            compiled.append(inert_window(window))
    return CompiledWindowSet(compiled)


def compile_stored_rule_set(rule_set: RuleSet) -> CompiledRuleSet:
    """Compile a stored rule set; a rule that no longer validates is kept, disabled."""
    try:
        return compile_rule_set(rule_set)
    except RuleValidationError:
        pass
    rules = tuple(
        replace(rule, enabled=False, conditions=Conditions(), actions=Actions())
        if validate_rule(rule)
        else rule
        for rule in rule_set.rules
    )
    repaired = replace(rule_set, rules=rules)
    try:
        return compile_rule_set(repaired)
    except RuleValidationError:
        # What is left is set-level (defaults, zone): route with plain defaults.
        return compile_rule_set(replace(repaired, default_actions=Actions(), time_zone="UTC"))
