"""Protobuf <-> domain <-> stored JSON for rules, windows, alerts and decisions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf import json_format
from google.protobuf.message import Message

from services.rules.domain import (
    Actions,
    CompiledRuleSet,
    CompiledWindowSet,
    Conditions,
    Decision,
    EffectiveActions,
    LabelMatcher,
    MaintenanceWindow,
    Persistence,
    RoutableAlert,
    Rule,
    Schedule,
    TimeRange,
    Violation,
    WindowScope,
)
from services.rules.domain.checks import Facts
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as pb
from triage.runtime import from_timestamp, to_timestamp

M = TypeVar("M", bound=Message)

_OPS = {
    pb.LABEL_MATCH_OP_EQUAL: "=",
    pb.LABEL_MATCH_OP_NOT_EQUAL: "!=",
    pb.LABEL_MATCH_OP_REGEX: "=~",
    pb.LABEL_MATCH_OP_NOT_REGEX: "!~",
}
_KINDS = {
    "suppressed": pb.DECISION_KIND_SUPPRESSED,
    "routed": pb.DECISION_KIND_ROUTED,
    "unmatched": pb.DECISION_KIND_UNMATCHED,
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


def to_json(message: Message) -> dict[str, Any]:
    """A message as JSON data with proto field names (how JSONB columns store them)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def from_json(data: Mapping[str, Any] | None, message: M) -> M:
    """Fill ``message`` from stored JSON data."""
    json_format.ParseDict(dict(data or {}), message, ignore_unknown_fields=True)
    return message


def rule_path(domain_path: str) -> str:
    """The proto field path of a rule for a domain violation path."""
    for pattern, replacement in _RULE_PATHS:
        if pattern.search(domain_path):
            return pattern.sub(replacement, domain_path, count=1)
    return domain_path


def window_path(domain_path: str, *, recurring: bool) -> str:
    """The proto field path of a window for a domain violation path."""
    schedule = "recurring" if recurring else "one_off"
    mapping = {
        "starts_at": f"{schedule}.start_time",
        "ends_at": "one_off.end_time",
        "rrule": "recurring.rrule",
        "duration": "recurring.duration",
        "time_zone": "recurring.time_zone",
        "ended_early_at": "end_override_time",
        "extended_until": "end_override_time",
        "id": "id",
        "name": "display_name",
    }
    head, dot, rest = domain_path.partition(".")
    return mapping.get(head, head) + (dot + rest if dot else "")


def _enum_word(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


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
    return tuple(LabelMatcher(m.name, _OPS.get(m.op, ""), m.value) for m in items)  # type: ignore[arg-type]


def conditions(c: pb.Conditions, path: str, violations: list[Violation]) -> Conditions:
    """Domain conditions of a proto ``Conditions``."""
    providers: list[str] = []
    for i, p in enumerate(c.providers):
        if p == ingest_pb.PROVIDER_UNSPECIFIED:
            violations.append(Violation(f"{path}.providers[{i}]", "must be set"))
        providers.append(_enum_word(ingest_pb.Provider, p, "PROVIDER_"))
    kinds: list[str] = []
    for i, k in enumerate(c.kinds):
        if k == ingest_pb.ALERT_KIND_UNSPECIFIED:
            violations.append(Violation(f"{path}.kinds[{i}]", "must be set"))
        kinds.append(_enum_word(ingest_pb.AlertKind, k, "ALERT_KIND_"))
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


def rule_from_row(row: Any) -> pb.Rule:
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


def etag(version: int) -> str:
    """The opaque etag of a resource revision."""
    return f'W/"{version}"'


def zone_or_utc(name: str) -> str:
    """``name`` when it is a known IANA zone, else ``UTC``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return "UTC"
    return name


def window_scope(scope: pb.WindowScope) -> WindowScope:
    """A domain window scope."""
    return WindowScope(
        integration_ids=tuple(scope.integration_ids),
        clients=tuple(scope.clients),
        sites=tuple(scope.sites),
        device_globs=tuple(scope.device_globs),
        label_matchers=label_matchers(scope.label_matchers),
    )


def window_from_values(values: Mapping[str, Any] | Any, tenant_zone: str) -> MaintenanceWindow:
    """A domain window of a stored row's values (an empty zone takes the tenant's)."""
    duration = values.get("duration_seconds")
    return MaintenanceWindow(
        id=str(values["id"]),
        name=str(values["name"]),
        starts_at=values.get("starts_at"),
        ends_at=values.get("ends_at"),
        rrule=values.get("rrule"),
        duration=None if duration is None else timedelta(seconds=duration),
        time_zone=values.get("time_zone") or tenant_zone,
        scope=window_scope(from_json(values.get("scope"), pb.WindowScope())),
        ended_early_at=values.get("ended_early_at"),
        extended_until=values.get("extended_until"),
        cancelled_from=values.get("cancelled_from"),
    )


def window_values(message: pb.MaintenanceWindow) -> dict[str, Any]:
    """Column values for a proto window's schedule and scope."""
    values: dict[str, Any] = {
        "name": message.display_name,
        "description": message.description,
        "scope": to_json(message.scope),
        "starts_at": None,
        "ends_at": None,
        "rrule": None,
        "duration_seconds": None,
        "time_zone": "",
    }
    which = message.WhichOneof("schedule")
    if which == "one_off":
        if message.one_off.HasField("start_time"):
            values["starts_at"] = from_timestamp(message.one_off.start_time)
        if message.one_off.HasField("end_time"):
            values["ends_at"] = from_timestamp(message.one_off.end_time)
    elif which == "recurring":
        r = message.recurring
        values["rrule"] = r.rrule
        if r.HasField("start_time"):
            values["starts_at"] = from_timestamp(r.start_time)
        values["duration_seconds"] = (
            r.duration.ToTimedelta().total_seconds() if r.HasField("duration") else 0.0
        )
        values["time_zone"] = r.time_zone
    return values


def window_to_proto(row: Any, state: tuple[int, datetime | None, datetime | None]) -> Any:
    """The proto window of a stored row and its (state, next start, current end)."""
    message = pb.MaintenanceWindow(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.name,
        description=row.description,
        state=state[0],  # type: ignore[arg-type]
        rule_set_version=row.rule_set_version,
        creator=row.creator,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        etag=etag(row.version),
    )
    from_json(row.scope, message.scope)
    if row.rrule is None:
        if row.starts_at is not None:
            message.one_off.start_time.CopyFrom(to_timestamp(row.starts_at))
        if row.ends_at is not None:
            message.one_off.end_time.CopyFrom(to_timestamp(row.ends_at))
    else:
        message.recurring.rrule = row.rrule
        if row.starts_at is not None:
            message.recurring.start_time.CopyFrom(to_timestamp(row.starts_at))
        message.recurring.duration.FromTimedelta(timedelta(seconds=row.duration_seconds or 0))
        message.recurring.time_zone = row.time_zone
    if row.end_override_at is not None:
        message.end_override_time.CopyFrom(to_timestamp(row.end_override_at))
    if row.ended_early_at is not None:
        message.ended_early_time.CopyFrom(to_timestamp(row.ended_early_at))
    if state[1] is not None:
        message.next_start_time.CopyFrom(to_timestamp(state[1]))
    if state[2] is not None:
        message.current_end_time.CopyFrom(to_timestamp(state[2]))
    return message


def routable(alert: ingest_pb.AlertEvent, *, now: datetime | None = None) -> RoutableAlert:
    """The router's view of an ``AlertEvent``."""
    received = (
        from_timestamp(alert.received_time)
        if alert.HasField("received_time")
        else now or datetime.now(UTC)
    )
    return RoutableAlert(
        alert_id=alert.alert_id,
        tenant_id=alert.tenant_id,
        integration_id=alert.integration_id,
        provider=_enum_word(ingest_pb.Provider, alert.provider, "PROVIDER_"),
        kind=_enum_word(ingest_pb.AlertKind, alert.kind, "ALERT_KIND_"),
        series_key=alert.series_key,
        condition=alert.condition,
        severity=alert.severity,
        title=alert.summary,
        message=alert.message,
        received_at=received,
        device_id=alert.device_id or None,
        device_name=alert.device_name or None,
        client_id=alert.client_id or None,
        client_name=alert.client_name or None,
        site_id=alert.site_id or None,
        site_name=alert.site_name or None,
        raw_severity=alert.raw_severity,
        labels=dict(alert.labels),
        occurred_at=from_timestamp(alert.occurred_time)
        if alert.HasField("occurred_time")
        else None,
    )


def effective_actions(effective: EffectiveActions | None) -> pb.Actions:
    """The proto actions of resolved actions (empty when suppressed)."""
    if effective is None:
        return pb.Actions()
    message = pb.Actions(
        ticket_action=(
            pb.TICKET_ACTION_CREATE_TICKET
            if effective.create_ticket
            else pb.TICKET_ACTION_RECORD_ONLY
        ),
        queue=effective.queue or "",
        assignee=effective.assignee or "",
        close_on_reset=effective.close_on_reset,
        reset_in_rmm_on_close=effective.reset_in_rmm_on_close,
        notification_channel_ids=list(effective.notify_channel_ids),
    )
    if effective.persistence is not None:
        message.persistence.count = effective.persistence.count
        message.persistence.within.FromTimedelta(effective.persistence.within)
    return message


def decision(
    d: Decision,
    rules: CompiledRuleSet,
    windows: CompiledWindowSet,
    alert: RoutableAlert,
    at: datetime,
) -> pb.Decision:
    """The proto decision with its explanation."""
    message = pb.Decision(
        kind=_KINDS[d.kind],
        window_id=d.window_id or "",
        rule_ids=list(d.matched_rule_ids),
        rule_set_version=d.rule_set_version,
        actions=effective_actions(d.actions),
        priority=d.priority or 0,  # type: ignore[arg-type]
        rendered_title=d.title,
        rendered_description=d.description,
        evaluate_time=to_timestamp(at),
    )
    names = {r.rule.id: r.rule.name for r in rules.rules}
    by_rule: dict[str, pb.RuleExplanation] = {}
    for entry in d.explanation:
        if entry.condition == "maintenance_window":
            continue
        key = entry.rule_id or ""
        explained = by_rule.get(key)
        if explained is None:
            explained = message.rule_explanations.add(
                rule_id=key, rule_display_name=names.get(key, "(default actions)")
            )
            by_rule[key] = explained
        if entry.condition == "rule" or entry.condition == "default":
            explained.matched = entry.matched
            if entry.condition == "rule":
                continue
        explained.conditions.add(
            condition=entry.condition, matched=entry.matched, detail=entry.detail
        )
    facts = Facts(alert, rules.zone)
    for window, occurrence in windows.active_at(at):
        in_scope = window.scope_matches(facts)
        message.window_explanations.add(
            window_id=window.window.id,
            active=True,
            in_scope=in_scope,
            detail=f"{window.window.name}: active {occurrence[0].isoformat()}.."
            f"{occurrence[1].isoformat()}; alert {'in' if in_scope else 'outside'} scope",
        )
    return message
