"""Rules: proto <-> domain, stored JSON, the API's field paths, drafts of writes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import time
from typing import Any

from services.rules.convert.common import enum_word, from_json, merge, to_json
from services.rules.domain import (
    Actions,
    Conditions,
    LabelMatcher,
    Persistence,
    Rule,
    Schedule,
    TimeRange,
    Violation,
    validate_rule,
)
from services.rules.domain.drafts import RuleDraft
from services.rules.domain.records import RuleRecord, etag
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as pb
from triage.runtime import to_timestamp

#: The fields an update may change.
RULE_MUTABLE = {
    "display_name",
    "description",
    "disabled",
    "scope_integration_ids",
    "conditions",
    "actions",
}
OPS = {
    pb.LABEL_MATCH_OP_EQUAL: "=",
    pb.LABEL_MATCH_OP_NOT_EQUAL: "!=",
    pb.LABEL_MATCH_OP_REGEX: "=~",
    pb.LABEL_MATCH_OP_NOT_REGEX: "!~",
}

# Domain field paths that are spelled differently in the proto messages.
_RULE_PATHS = (
    (re.compile(r"^conditions\.schedule"), "conditions.time_conditions"),
    (re.compile(r"^integration_ids"), "scope_integration_ids"),
    (re.compile(r"^name$"), "display_name"),
    (re.compile(r"^actions\.priority_map.*"), "actions.severity_priority_map"),
    (re.compile(r"^actions\.notify_channel_ids"), "actions.notification_channel_ids"),
    (re.compile(r"^actions\.continue_"), "actions.continue_matching"),
    (re.compile(r"^default_actions"), "default_actions"),
)


def rule_path(domain_path: str) -> str:
    """The proto field path of a rule for a domain violation path."""
    for pattern, replacement in _RULE_PATHS:
        if pattern.search(domain_path):
            return pattern.sub(replacement, domain_path, count=1)
    return domain_path


def _time_of_day(t: Any, path: str, violations: list[Violation]) -> time:
    if t.hours == 24 and not t.minutes and not t.seconds:
        return time(0)
    if not (0 <= t.hours <= 23 and 0 <= t.minutes <= 59 and 0 <= t.seconds <= 59):
        violations.append(Violation(path, "not a valid time of day"))
        return time(0)
    return time(t.hours, t.minutes, t.seconds)


def _schedule(tc: pb.TimeConditions, path: str, violations: list[Violation]) -> Schedule | None:
    if not tc.ranges:
        return None
    day_sets = {frozenset(d - 1 for d in r.days) for r in tc.ranges}
    if len(day_sets) > 1:
        violations.append(Violation(f"{path}.ranges", "every range must list the same days"))
        return None
    days = next(iter(day_sets))
    if any(not 0 <= d <= 6 for d in days):
        violations.append(Violation(f"{path}.ranges", "days must be MONDAY..SUNDAY"))
        return None
    ranges = tuple(
        TimeRange(
            _time_of_day(r.start, f"{path}.ranges[{i}].start", violations),
            _time_of_day(r.end, f"{path}.ranges[{i}].end", violations),
        )
        for i, r in enumerate(tc.ranges)
    )
    return Schedule(days=days, ranges=ranges, time_zone=tc.time_zone or None)


def label_matchers(items: Sequence[pb.LabelMatcher]) -> tuple[LabelMatcher, ...]:
    """Domain label matchers (an unset op becomes ``""``, which validation rejects)."""
    return tuple(LabelMatcher(m.name, OPS.get(m.op, ""), m.value) for m in items)  # type: ignore[arg-type]


def conditions(c: pb.Conditions, path: str, violations: list[Violation]) -> Conditions:
    """Domain conditions of a proto ``Conditions``."""
    providers: list[str] = []
    for i, p in enumerate(c.providers):
        if p == ingest_pb.PROVIDER_UNSPECIFIED:
            violations.append(Violation(f"{path}.providers[{i}]", "must be set"))
        providers.append(enum_word(ingest_pb.Provider, p, "PROVIDER_"))
    kinds: list[str] = []
    for i, k in enumerate(c.kinds):
        if k == ingest_pb.ALERT_KIND_UNSPECIFIED:
            violations.append(Violation(f"{path}.kinds[{i}]", "must be set"))
        kinds.append(enum_word(ingest_pb.AlertKind, k, "ALERT_KIND_"))
    schedule = (
        _schedule(c.time_conditions, f"{path}.time_conditions", violations)
        if c.HasField("time_conditions")
        else None
    )
    return Conditions(
        providers=tuple(providers),
        integration_ids=tuple(c.integration_ids),
        clients=tuple(c.clients),
        sites=tuple(c.sites),
        device_globs=tuple(c.device_globs),
        min_severity=c.min_severity or None,
        kinds=tuple(kinds),
        conditions=tuple(c.conditions),
        message_regex=c.message_regex or None,
        keywords=tuple(c.keywords),
        label_matchers=label_matchers(c.label_matchers),
        schedule=schedule,
    )


def actions(a: pb.Actions) -> Actions:
    """Domain actions of a proto ``Actions``."""
    create: bool | None = None
    if a.ticket_action == pb.TICKET_ACTION_CREATE_TICKET:
        create = True
    elif a.ticket_action == pb.TICKET_ACTION_RECORD_ONLY:
        create = False
    priority_map: dict[int, int] | None = None
    override: int | None = None
    which = a.WhichOneof("priority")
    if which == "severity_priority_map":
        priority_map = {e.severity: e.priority for e in a.severity_priority_map.entries}
    elif which == "priority_override":
        override = a.priority_override or None
    return Actions(
        create_ticket=create,
        priority_map=priority_map,
        priority_override=override,
        queue=a.queue or None,
        assignee=a.assignee or None,
        title_template=a.title_template or None,
        description_template=a.description_template or None,
        close_on_reset=a.close_on_reset if a.HasField("close_on_reset") else None,
        reset_in_rmm_on_close=(
            a.reset_in_rmm_on_close if a.HasField("reset_in_rmm_on_close") else None
        ),
        notify_channel_ids=tuple(a.notification_channel_ids),
        persistence=(
            Persistence(a.persistence.count, a.persistence.within.ToTimedelta())
            if a.HasField("persistence")
            else None
        ),
        continue_=a.continue_matching,
    )


def rule(message: pb.Rule, violations: list[Violation]) -> Rule:
    """A domain rule of a proto ``Rule`` (its id and position as given)."""
    return Rule(
        id=message.id or "new",
        name=message.display_name,
        position=message.position,
        enabled=not message.disabled,
        integration_ids=tuple(message.scope_integration_ids),
        conditions=conditions(message.conditions, "conditions", violations),
        actions=actions(message.actions),
    )


def rule_from_row(row: RuleRecord) -> pb.Rule:
    """The proto ``Rule`` of a stored row."""
    message = pb.Rule(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.name,
        description=row.description,
        position=row.position,
        disabled=not row.enabled,
        scope_integration_ids=list(row.scope_integration_ids),
        version=row.version,
        rule_set_version=row.rule_set_version,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        etag=etag(row.version),
    )
    from_json(row.conditions, message.conditions)
    from_json(row.actions, message.actions)
    return message


def rule_draft(message: pb.Rule, prefix: str = "rule.") -> RuleDraft:
    """The draft of a rule a write sends, with every violation (paths under ``prefix``)."""
    violations: list[Violation] = []
    if not message.display_name:
        violations.append(Violation("name", "must not be empty"))
    domain = rule(message, violations)
    violations.extend(v for v in validate_rule(domain) if v.field_path != "name")
    values = {
        "name": message.display_name,
        "description": message.description,
        "enabled": not message.disabled,
        "scope_integration_ids": list(message.scope_integration_ids),
        "conditions": to_json(message.conditions),
        "actions": to_json(message.actions),
    }
    named = tuple(Violation(prefix + rule_path(v.field_path), v.message) for v in violations)
    return RuleDraft(values=values, rule=domain, violations=named)


def named_rule(message: pb.Rule) -> Rule:
    """The domain rule of a request, as it names integrations and channels (not validated)."""
    return rule(message, [])


def patched_rule(request: pb.Rule, paths: set[str]) -> Callable[[RuleRecord], RuleDraft]:
    """How an update changes a stored rule: its ``paths`` taken from ``request``."""

    def patch(record: RuleRecord) -> RuleDraft:
        merged = rule_from_row(record)
        merge(request, merged, paths)
        return rule_draft(merged)

    return patch
