"""Tactical RMM alert-template webhooks: user-written JSON, sometimes JSON-in-a-string."""

from __future__ import annotations

import re
from typing import Any

from services.ingest.domain.alerts import AlertKind, IntegrationContext, NormalizedAlert, Severity

from .build import build_alert
from .payload import JsonObject, as_objects, load_json, scalar_labels
from .templated import TemplatedBody
from .text import clean, stable_hash, to_bool
from .times import parse_time
from .vocab import kind_from_word, severity_from_word

_CANDIDATES: dict[str, tuple[str, ...]] = {
    "event": ("event", "event_type", "action", "alert_event", "state", "status"),
    "resolved": ("resolved", "alert.resolved", "is_resolved"),
    "alert_id": ("alert_id", "alert.id", "alertid", "id"),
    "agent_id": ("agent_id", "agent.agent_id", "agentid", "alert.agent_id", "agent.id"),
    "hostname": ("hostname", "agent_hostname", "agent.hostname", "agent", "device", "host"),
    "client_id": ("client_id", "client.id"),
    "client": ("client", "client_name", "client.name"),
    "site_id": ("site_id", "site.id"),
    "site": ("site", "site_name", "site.name"),
    "alert_type": ("alert_type", "alert.alert_type", "type"),
    "check_id": ("check_id", "alert.assigned_check.id", "assigned_check.id", "check.id"),
    "task_id": ("task_id", "alert.assigned_task.id", "assigned_task.id", "task.id"),
    "check_name": ("check_name", "alert.assigned_check.readable_desc", "check.name"),
    "severity": ("severity", "alert.severity", "alert_severity"),
    "message": ("message", "alert.message", "alert_message", "text", "body", "description"),
    "title": ("title", "subject", "summary"),
    "alert_time": ("alert_time", "alert.alert_time", "time", "timestamp"),
    "resolved_on": ("resolved_on", "alert.resolved_on", "resolved_time"),
}
_SEVERITIES = {"info": Severity.INFO, "warning": Severity.MEDIUM, "error": Severity.HIGH}
_MAX_STRING_LAYERS = 3
_PAIR = re.compile(r'"([A-Za-z_][\w.]*)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _kind(fields: TemplatedBody, ctx: IntegrationContext) -> AlertKind:
    if (kind := kind_from_word(fields.text("event"))) is not None:
        return kind
    resolved_on = parse_time(fields.value("resolved_on"), ctx.time_zone)
    if resolved_on is not None or to_bool(fields.value("resolved")):
        return AlertKind.RESET
    return AlertKind.TRIGGER


def _one(body: JsonObject, ctx: IntegrationContext, fallback_message: str = "") -> NormalizedAlert:
    fields = TemplatedBody(body, _CANDIDATES, ctx.field_mapping)
    kind = _kind(fields, ctx)
    message = fields.text("message") or fallback_message
    agent = fields.text("agent_id") or fields.text("hostname")
    alert_type = fields.text("alert_type")
    check_id = fields.text("check_id")
    task_id = fields.text("task_id")
    alert_id = fields.text("alert_id")
    known = (check_id and f"check:{check_id}") or (task_id and f"task:{task_id}") or alert_type
    condition = known or "tacticalrmm"
    fingerprint = message or "\n".join(f"{k}={v}" for k, v in sorted(scalar_labels(body).items()))
    series = f"{agent or '-'}:{alert_id or known or 'h' + stable_hash(fingerprint)}"
    raw_severity = fields.text("severity")
    severity = (
        _SEVERITIES.get((raw_severity or "").lower())
        or severity_from_word(raw_severity)
        or (Severity.MEDIUM if kind is AlertKind.TRIGGER else Severity.INFO)
    )
    occurred = None
    if kind is AlertKind.RESET:
        occurred = parse_time(fields.value("resolved_on"), ctx.time_zone)
    occurred = occurred or parse_time(fields.value("alert_time"), ctx.time_zone)
    return build_alert(
        kind=kind,
        series_key=series,
        condition=condition,
        severity=severity,
        raw_severity=raw_severity,
        title=fields.text("title") or message or fields.text("check_name"),
        message=message,
        device_id=fields.text("agent_id"),
        device_name=fields.text("hostname"),
        client_id=fields.text("client_id"),
        client_name=fields.text("client"),
        site_id=fields.text("site_id"),
        site_name=fields.text("site"),
        labels=scalar_labels(body),
        occurred_at=occurred,
        source_ref=alert_id,
    )


def _salvage(text: str) -> dict[str, Any]:
    """Simple `"key": "value"` pairs from a rendered template that is not valid JSON."""
    return {key: value.replace('\\"', '"') for key, value in _PAIR.findall(text)}


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per Tactical body; a JSON string body is decoded a second time."""
    parsed = load_json(raw)
    for _ in range(_MAX_STRING_LAYERS):
        if not isinstance(parsed, str):
            break
        inner = parsed
        try:
            parsed = load_json(inner.encode("utf-8", errors="surrogatepass"))
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict | list | str):
            salvaged = _salvage(inner)
            salvaged.pop("message", None)
            return [_one(salvaged, ctx, fallback_message=clean(inner) or "")]
    return [_one(body, ctx) for body in as_objects(parsed)]
