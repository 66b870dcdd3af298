"""Huntress incident reports: webhook events (Svix-signed) or polled API objects.

A webhook body is one `IncidentReportPayload` with an `event_type`
(`incident_report.created` / `.closed` / `.comment_added`, and escalation, platform
action and account notice events); a polled report is the REST object of
`GET /v1/incident_reports` (no `event_type`, `organization_id` instead of `organization`).
See docs/POLLING.md.
"""

from __future__ import annotations

from services.ingest.domain.alerts import AlertKind, IntegrationContext, NormalizedAlert, Severity

from .build import build_alert
from .payload import JsonObject, as_objects, load_json, obj
from .text import clean, clean_text
from .times import parse_time
from .vocab import severity_from_word

_EVENT_KINDS = {
    "incident_report.created": AlertKind.TRIGGER,
    "incident_report.closed": AlertKind.RESET,
}
#: Report statuses that mean the incident is still open in Huntress.
OPEN_STATUSES = frozenset({"sent", "auto_remediating"})
_CLOSED_STATUSES = frozenset({"closed", "dismissed", "partner_dismissed", "deleting", "resolved"})
_SEVERITIES = {"low": Severity.LOW, "high": Severity.HIGH, "critical": Severity.CRITICAL}
_LABEL_KEYS = ("status", "severity", "platform")


def _kind(event_type: str | None, report: JsonObject) -> AlertKind:
    if event_type is not None:
        return _EVENT_KINDS.get(event_type.lower(), AlertKind.INFO)
    status = (clean(report.get("status")) or "").lower()
    if status in _CLOSED_STATUSES or clean(report.get("closed_at")) is not None:
        return AlertKind.RESET
    return AlertKind.TRIGGER if status in OPEN_STATUSES else AlertKind.INFO


def _severity(raw: str | None, kind: AlertKind) -> Severity:
    found = _SEVERITIES.get((raw or "").lower()) or severity_from_word(raw)
    if found is not None:
        return found
    return Severity.HIGH if kind is AlertKind.TRIGGER else Severity.INFO


def _labels(report: JsonObject, event_type: str | None, org_name: str | None) -> dict[str, str]:
    labels = {key: text for key in _LABEL_KEYS if (text := clean(report.get(key))) is not None}
    if event_type:
        labels["event_type"] = event_type
    if org_name:
        labels["organization"] = org_name
    types = report.get("indicator_types")
    if isinstance(types, list):
        names = [text for item in types if (text := clean(item)) is not None]
        if names:
            labels["indicator_types"] = ",".join(sorted(names))
    return labels


def _one(report: JsonObject, ctx: IntegrationContext) -> NormalizedAlert:
    event_type = clean(report.get("event_type"))
    kind = _kind(event_type, report)
    report_id = clean(report.get("id"))
    is_incident = event_type is None or event_type.lower().startswith("incident_report.")
    subject = f"incident_report:{report_id or '-'}"
    series = subject if is_incident else f"{event_type}:{report_id or '-'}"
    organization = obj(report.get("organization"))
    org_id = clean(organization.get("id")) or clean(report.get("organization_id"))
    org_name = clean(organization.get("name"))
    raw_severity = clean(report.get("severity"))
    if kind is AlertKind.RESET:
        when = report.get("closed_at") or report.get("status_updated_at")
    else:
        when = report.get("sent_at") or report.get("created_at")
    occurred = parse_time(when, ctx.time_zone) or parse_time(
        report.get("updated_at"), ctx.time_zone
    )
    summary, body = clean_text(report.get("summary")), clean_text(report.get("body"))
    lifecycle = kind in (AlertKind.TRIGGER, AlertKind.RESET) and is_incident
    return build_alert(
        kind=kind,
        series_key=series,
        # Each incident is its own problem: one ticket per incident, not per agent.
        condition=series,
        severity=_severity(raw_severity, kind),
        raw_severity=raw_severity,
        title=clean(report.get("subject")) or summary or f"Huntress {event_type or 'incident'}",
        message="\n\n".join(part for part in (summary, body) if part),
        # Poll and webhook name the same lifecycle step alike, so they share a delivery key.
        provider_event_id=f"{subject}:{kind.value}" if lifecycle and report_id else None,
        device_id=clean(report.get("agent_id")),
        client_id=org_id,
        client_name=org_name,
        labels=_labels(report, event_type, org_name),
        occurred_at=occurred,
        source_ref=report_id if is_incident else None,
        raw_fields={
            "indicator_counts": report.get("indicator_counts"),
            "api_url": clean(report.get("api_url")),
            "account": report.get("account"),
        },
    )


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per Huntress event or incident report object in the body."""
    return [_one(report, ctx) for report in as_objects(load_json(raw))]
