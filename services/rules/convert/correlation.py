"""Correlation rules: proto <-> domain, stored JSON, drafts of writes, the routed block."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from google.protobuf import duration_pb2

from services.rules.convert.common import from_json, merge, to_json
from services.rules.convert.rules import conditions, rule_path
from services.rules.domain.correlation import (
    Correlation,
    CorrelationDraft,
    CorrelationRule,
    validate_correlation_rule,
)
from services.rules.domain.model import Violation
from services.rules.domain.records import CorrelationRuleRecord, etag
from triage.rules.v1 import correlation_pb2 as pb
from triage.runtime import to_timestamp

#: The fields an update may change.
CORRELATION_MUTABLE = {
    "display_name",
    "description",
    "disabled",
    "conditions",
    "group_by",
    "window",
    "primary_conditions",
}


def correlation_path(domain_path: str) -> str:
    """The proto field path of a correlation rule for a domain violation path."""
    if domain_path == "name":
        return "display_name"
    if domain_path.startswith("primary_conditions"):
        return "primary_conditions" + rule_path(domain_path.removeprefix("primary_")).removeprefix(
            "conditions"
        )
    return rule_path(domain_path)


def correlation_rule(message: pb.CorrelationRule, violations: list[Violation]) -> CorrelationRule:
    """The domain rule of a proto ``CorrelationRule`` (its id and position as given)."""
    return CorrelationRule(
        id=message.id or "new",
        name=message.display_name,
        position=message.position,
        enabled=not message.disabled,
        conditions=conditions(message.conditions, "conditions", violations),
        group_by=tuple(message.group_by),
        window=message.window.ToTimedelta() if message.HasField("window") else timedelta(0),
        primary=(
            conditions(message.primary_conditions, "primary_conditions", violations)
            if message.HasField("primary_conditions")
            else None
        ),
    )


def correlation_from_row(row: CorrelationRuleRecord) -> pb.CorrelationRule:
    """The proto ``CorrelationRule`` of a stored row."""
    message = pb.CorrelationRule(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.name,
        description=row.description,
        position=row.position,
        disabled=not row.enabled,
        group_by=list(row.group_by),
        window=duration_pb2.Duration(seconds=row.window_seconds),
        version=row.version,
        rule_set_version=row.rule_set_version,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        etag=etag(row.version),
    )
    from_json(row.conditions, message.conditions)
    if row.primary_conditions is not None:
        from_json(row.primary_conditions, message.primary_conditions)
    return message


def correlation_draft(
    message: pb.CorrelationRule, prefix: str = "correlation_rule."
) -> CorrelationDraft:
    """The draft of a rule a write sends, with every violation (paths under ``prefix``)."""
    violations: list[Violation] = []
    domain = correlation_rule(message, violations)
    violations.extend(validate_correlation_rule(domain))
    if message.HasField("window") and message.window.nanos:
        violations.append(Violation("window", "must be whole seconds"))
    values: dict[str, object] = {
        "name": message.display_name,
        "description": message.description,
        "enabled": not message.disabled,
        "conditions": to_json(message.conditions),
        "group_by": list(message.group_by),
        "window_seconds": int(domain.window.total_seconds()),
        "primary_conditions": (
            to_json(message.primary_conditions) if message.HasField("primary_conditions") else None
        ),
    }
    named = tuple(Violation(prefix + correlation_path(v.field_path), v.message) for v in violations)
    return CorrelationDraft(values=values, rule=domain, violations=named)


def patched_correlation(
    request: pb.CorrelationRule, paths: set[str]
) -> Callable[[CorrelationRuleRecord], CorrelationDraft]:
    """How an update changes a stored rule: its ``paths`` taken from ``request``."""

    def patch(record: CorrelationRuleRecord) -> CorrelationDraft:
        merged = correlation_from_row(record)
        merge(request, merged, paths)
        return correlation_draft(merged)

    return patch


def proposed_correlation(
    messages: Sequence[pb.CorrelationRule],
) -> tuple[tuple[CorrelationRule, ...], tuple[Violation, ...]]:
    """The rules a simulation proposes, in order (positions are the list order), with every
    violation named under ``proposed.correlation_rules[i]``."""
    rules: list[CorrelationRule] = []
    violations: list[Violation] = []
    for i, message in enumerate(messages):
        copy = pb.CorrelationRule()
        copy.CopyFrom(message)
        copy.id = message.id or f"new-{i}"
        copy.position = i
        draft = correlation_draft(copy, prefix=f"proposed.correlation_rules[{i}].")
        violations.extend(draft.violations)
        rules.append(draft.rule)
    return tuple(rules), tuple(violations)


def correlation_block(c: Correlation) -> pb.Correlation:
    """The ``Correlation`` block ``alert.routed`` carries."""
    window = duration_pb2.Duration()
    window.FromTimedelta(c.window)
    return pb.Correlation(
        rule_id=c.rule_id,
        rule_name=c.rule_name,
        group_key=c.group_key,
        window=window,
        primary=c.primary,
        group_values=[pb.GroupValue(field=f, value=v) for f, v in c.values],
    )
