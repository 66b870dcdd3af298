"""Simulate: the proposals of a request as domain values, and the result as the response."""

from __future__ import annotations

from collections.abc import Sequence

from services.rules.convert.rules import rule, rule_path
from services.rules.domain import OutcomeCounts, Rule, Violation, validate_rule
from services.rules.domain.drafts import ProposedRules
from services.rules.domain.views import SimulationResult
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api


def proposed_rules(messages: Sequence[pb.Rule]) -> ProposedRules:
    """The rules a request proposes, in order, with every violation."""
    violations: list[Violation] = []
    domain: list[Rule] = []
    ids: list[str] = []
    for i, message in enumerate(messages):
        copy = pb.Rule()
        copy.CopyFrom(message)
        copy.id = message.id or f"new-{i}"
        copy.position = i
        found: list[Violation] = []
        proposed = rule(copy, found)
        found.extend(validate_rule(proposed))
        violations.extend(
            Violation(f"proposed_rules.rules[{i}].{rule_path(v.field_path)}", v.message)
            for v in found
        )
        domain.append(proposed)
        ids.append(copy.id)
    return ProposedRules(rules=tuple(domain), ids=tuple(ids), violations=tuple(violations))


def counts(c: OutcomeCounts) -> api.SimulationCounts:
    """The proto counts of one side of a simulation row."""
    return api.SimulationCounts(
        matched=c.routed,
        tickets_opened=c.tickets_opened,
        recorded=c.record_only,
        suppressed=c.suppressed,
        unmatched=c.unmatched,
    )


def simulation_response(result: SimulationResult) -> api.SimulateRulesResponse:
    """The response of a simulation."""
    response = api.SimulateRulesResponse(
        alerts_evaluated=result.alerts_evaluated,
        truncated=result.truncated,
        rule_set_version=result.rule_set_version,
        proposed_total=counts(result.proposed_total),
        current_total=counts(result.current_total),
    )
    for window in result.windows:
        response.windows.add(
            window_id=window.window_id,
            display_name=window.name,
            proposed_suppressed=window.proposed_suppressed,
            current_suppressed=window.current_suppressed,
        )
    for outcome in result.rules:
        row = response.rules.add(
            rule_id=outcome.rule_id,
            display_name=outcome.name,
            proposed_index=outcome.proposed_index,
            current=counts(outcome.current),
        )
        if outcome.proposed is not None:
            row.proposed.CopyFrom(counts(outcome.proposed))
    return response
