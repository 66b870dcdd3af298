"""Pure domain of the rules service: match alerts to ordered rules, windows, templates.

No I/O here. The service compiles a tenant's rule set and windows once per version
(`compile_rule_set`, `compile_windows`), caches them, and calls `decide` per alert.
"""

from services.rules.domain.actions import (
    EffectiveActions,
    merge_actions,
    priority_for,
    resolve_actions,
)
from services.rules.domain.compiler import (
    CompiledRule,
    CompiledRuleSet,
    compile_rule_set,
    validate_rule,
    validate_rule_set,
)
from services.rules.domain.decision import (
    Decision,
    DecisionKind,
    Explanation,
    ExplanationEntry,
    decide,
)
from services.rules.domain.model import (
    ALERT_KINDS,
    DEFAULT_PRIORITY_MAP,
    Actions,
    Conditions,
    LabelMatcher,
    Persistence,
    RoutableAlert,
    Rule,
    RuleSet,
    RuleValidationError,
    Schedule,
    Severity,
    TimeRange,
    Violation,
    WindowValidationError,
)
from services.rules.domain.persistence import persistence_satisfied
from services.rules.domain.simulation import (
    OutcomeCounts,
    SimulationReport,
    SimulationRow,
    simulate,
)
from services.rules.domain.templates import TEMPLATE_VARIABLES
from services.rules.domain.windows import (
    CompiledWindow,
    CompiledWindowSet,
    MaintenanceWindow,
    Occurrence,
    WindowScope,
    compile_window,
    compile_windows,
    validate_window,
)

__all__ = [
    "ALERT_KINDS",
    "DEFAULT_PRIORITY_MAP",
    "TEMPLATE_VARIABLES",
    "Actions",
    "CompiledRule",
    "CompiledRuleSet",
    "CompiledWindow",
    "CompiledWindowSet",
    "Conditions",
    "Decision",
    "DecisionKind",
    "EffectiveActions",
    "Explanation",
    "ExplanationEntry",
    "LabelMatcher",
    "MaintenanceWindow",
    "Occurrence",
    "OutcomeCounts",
    "Persistence",
    "RoutableAlert",
    "Rule",
    "RuleSet",
    "RuleValidationError",
    "Schedule",
    "Severity",
    "SimulationReport",
    "SimulationRow",
    "TimeRange",
    "Violation",
    "WindowScope",
    "WindowValidationError",
    "compile_rule_set",
    "compile_window",
    "compile_windows",
    "decide",
    "merge_actions",
    "persistence_satisfied",
    "priority_for",
    "resolve_actions",
    "simulate",
    "validate_rule",
    "validate_rule_set",
    "validate_window",
]
