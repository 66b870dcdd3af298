"""Alerts and decisions: an ``AlertEvent`` as the router sees it, a decision as the API and
``alert.routed`` carry it."""

from __future__ import annotations

from datetime import UTC, datetime

from services.rules.convert.common import enum_word
from services.rules.domain import EffectiveActions, RoutableAlert
from services.rules.domain.checks import Facts
from services.rules.domain.received import IncomingAlert
from services.rules.domain.records import DecisionRecord
from services.rules.domain.views import Evaluation
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as pb
from triage.runtime import from_timestamp, to_timestamp

KINDS = {
    "suppressed": pb.DECISION_KIND_SUPPRESSED,
    "routed": pb.DECISION_KIND_ROUTED,
    "unmatched": pb.DECISION_KIND_UNMATCHED,
}
#: The received time of an alert that has none; the router uses its decision time instead.
_UNKNOWN = datetime(1970, 1, 1, tzinfo=UTC)


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
        provider=enum_word(ingest_pb.Provider, alert.provider, "PROVIDER_"),
        kind=enum_word(ingest_pb.AlertKind, alert.kind, "ALERT_KIND_"),
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


def incoming(
    event_id: str, alert: ingest_pb.AlertEvent, trace_headers: dict[str, str]
) -> IncomingAlert:
    """A received alert of the routing consumer (``alert`` as the tenant's already)."""
    known = alert.HasField("received_time")
    return IncomingAlert(
        event_id=event_id,
        alert=routable(alert, now=None if known else _UNKNOWN),
        received_known=known,
        sequence=alert.series_sequence,
        payload=alert.SerializeToString(),
        trace_headers=trace_headers,
    )


def alert_of(payload: bytes, *, now: datetime | None = None) -> RoutableAlert:
    """The router's view of a serialized ``AlertEvent`` (no received time: ``now``)."""
    return routable(ingest_pb.AlertEvent.FromString(payload), now=now)


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


def decision(evaluation: Evaluation) -> pb.Decision:
    """The proto decision with its explanation."""
    d, rules, windows = evaluation.decision, evaluation.rules, evaluation.windows
    alert, at = evaluation.alert, evaluation.at
    message = pb.Decision(
        kind=KINDS[d.kind],
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


def logged_decision(row: DecisionRecord) -> pb.Decision:
    """The API view of a logged decision (no explanations: they are not logged)."""
    return pb.Decision(
        kind=KINDS.get(row.kind, pb.DECISION_KIND_UNSPECIFIED),
        window_id=row.window_id or "",
        rule_ids=list(row.rule_ids),
        rule_set_version=row.rule_set_version,
        evaluate_time=to_timestamp(row.occurred_at),
    )
