"""Datto RMM webhooks: user-defined bodies with [variables], or the API alert object."""

from __future__ import annotations

from services.ingest.domain.alerts import AlertKind, IntegrationContext, NormalizedAlert, Severity

from .build import build_alert
from .payload import JsonObject, as_objects, load_json, obj, scalar_labels
from .templated import TemplatedBody
from .text import to_bool
from .times import parse_time
from .vocab import kind_from_word, severity_from_word

_CANDIDATES: dict[str, tuple[str, ...]] = {
    "alert_uid": ("alert_uid", "alertUid", "alertUID", "alert.uid", "alert_id", "uid"),
    "event": ("event", "event_type", "action", "status", "state"),
    "resolved": ("resolved", "alert_resolved", "is_resolved"),
    "message": ("alert_message", "message", "alertMessage", "diagnostics", "description"),
    "title": ("title", "subject", "summary", "alert_name"),
    "priority": ("alert_priority", "priority", "alertPriority", "severity"),
    "device_id": ("device_id", "deviceUid", "alertSourceInfo.deviceUid", "device_uid"),
    "hostname": (
        "device_hostname", "hostname", "alertSourceInfo.deviceName", "device_name",
        "deviceName",
    ),
    "site_id": ("site_id", "siteUid", "alertSourceInfo.siteUid", "site_uid"),
    "site": ("site_name", "siteName", "alertSourceInfo.siteName", "site"),
    "client_id": ("customer_id", "client_id", "account_uid"),
    "client": ("customer_name", "client_name", "customer", "client", "account_name"),
    "condition": (
        "alertContext.@class", "alert_context_class", "alert_category", "monitor_type",
        "alert_type", "monitor",
    ),
    "timestamp": ("timestamp", "alert_timestamp", "alertTimestamp", "time"),
    "resolved_at": ("resolved_at", "resolvedOn", "resolved_on"),
}  # fmt: skip
_PRIORITIES = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "low": Severity.LOW,
    "information": Severity.INFO,
}


def _kind(fields: TemplatedBody) -> AlertKind:
    if (kind := kind_from_word(fields.text("event"))) is not None:
        return kind
    return AlertKind.RESET if to_bool(fields.value("resolved")) else AlertKind.TRIGGER


def _one(body: JsonObject, ctx: IntegrationContext) -> NormalizedAlert:
    fields = TemplatedBody(body, _CANDIDATES, ctx.field_mapping)
    kind = _kind(fields)
    uid = fields.text("alert_uid")
    device_id = fields.text("device_id")
    hostname = fields.text("hostname")
    condition = fields.text("condition") or "datto"
    raw_priority = fields.text("priority")
    severity = (
        _PRIORITIES.get((raw_priority or "").lower())
        or severity_from_word(raw_priority)
        or (Severity.MEDIUM if kind is AlertKind.TRIGGER else Severity.INFO)
    )
    occurred = None
    if kind is AlertKind.RESET:
        occurred = parse_time(fields.value("resolved_at"), ctx.time_zone)
    occurred = occurred or parse_time(fields.value("timestamp"), ctx.time_zone)
    message = fields.text("message") or ""
    site_id, site_name = fields.text("site_id"), fields.text("site")
    context = obj(body.get("alertContext"))
    return build_alert(
        kind=kind,
        series_key=uid or f"device:{device_id or hostname or '-'}:{condition}",
        condition=condition,
        severity=severity,
        raw_severity=raw_priority,
        title=fields.text("title") or message or f"{condition} on {hostname or 'unknown device'}",
        message=message or "\n".join(f"{k}: {v}" for k, v in scalar_labels(context).items()),
        device_id=device_id,
        device_name=hostname,
        # A Datto site is the MSP's customer unless the body names a customer itself.
        client_id=fields.text("client_id") or site_id,
        client_name=fields.text("client") or site_name,
        site_id=site_id,
        site_name=site_name,
        labels={**scalar_labels(body), **scalar_labels(context)},
        occurred_at=occurred,
        source_ref=uid,
        raw_fields={
            "alertContext": context or None,
            "autoresolveMins": body.get("autoresolveMins"),
        },
    )


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per Datto body (an object or a list of alert objects)."""
    return [_one(body, ctx) for body in as_objects(load_json(raw))]
