"""Level webhooks: an event envelope around alert (and device/group) data."""

from __future__ import annotations

from services.ingest.domain.alerts import AlertKind, IntegrationContext, NormalizedAlert, Severity

from .build import build_alert
from .payload import JsonObject, as_objects, load_json, obj, pick_str, scalar_labels
from .text import clean, to_bool
from .times import parse_time
from .vocab import severity_from_word

_KINDS = {"alert_active": AlertKind.TRIGGER, "alert_resolved": AlertKind.RESET}


def _kind(event_type: str | None, data: JsonObject) -> AlertKind:
    if event_type is not None:
        return _KINDS.get(event_type.lower(), AlertKind.INFO)
    resolved = to_bool(data.get("is_resolved"))
    if resolved is None:
        return AlertKind.INFO
    return AlertKind.RESET if resolved else AlertKind.TRIGGER


def _one(envelope: JsonObject, ctx: IntegrationContext) -> NormalizedAlert:
    event_type = clean(envelope.get("event_type"))
    data = obj(envelope.get("data"))
    kind = _kind(event_type, data)
    alert_id = clean(data.get("id"))
    device_id = clean(data.get("device_id"))
    name = pick_str(data, ("name", "title", "hostname"))
    is_alert = kind in (AlertKind.TRIGGER, AlertKind.RESET)
    condition = pick_str(data, ("monitor_id", "trigger_id", "name")) if is_alert else event_type
    if is_alert:
        series = alert_id or f"device:{device_id or '-'}:{condition or 'level'}"
    else:
        series = f"{event_type or 'event'}:{alert_id or clean(envelope.get('event_id')) or '-'}"
    raw_severity = clean(data.get("severity"))
    severity = severity_from_word(raw_severity) or (
        Severity.MEDIUM if kind is AlertKind.TRIGGER else Severity.INFO
    )
    when = data.get("resolved_at") if kind is AlertKind.RESET else data.get("started_at")
    occurred = parse_time(when, ctx.time_zone) or parse_time(
        envelope.get("occurred_at"), ctx.time_zone
    )
    description = pick_str(data, ("description", "message")) or ""
    return build_alert(
        kind=kind,
        series_key=series,
        condition=condition or event_type or "level",
        severity=severity,
        raw_severity=raw_severity,
        title=name or description or event_type,
        message=description or name,
        provider_event_id=clean(envelope.get("event_id")),
        device_id=device_id,
        device_name=pick_str(data, ("device_hostname", "device_name", "hostname")),
        client_id=pick_str(data, ("group_id", "organization_id")),
        client_name=pick_str(data, ("group_name", "organization_name")),
        labels={**scalar_labels(data), **({"event_type": event_type} if event_type else {})},
        occurred_at=occurred,
        source_ref=alert_id if is_alert else None,
    )


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per Level event envelope."""
    return [_one(envelope, ctx) for envelope in as_objects(load_json(raw))]
