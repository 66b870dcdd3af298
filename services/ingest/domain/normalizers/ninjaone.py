"""NinjaOne activity webhooks (condition triggers/resets and other activities)."""

from __future__ import annotations

from services.ingest.domain.alerts import AlertKind, IntegrationContext, NormalizedAlert, Severity

from .build import build_alert
from .payload import JsonObject, as_objects, dig, load_json, obj, pick_str, scalar_labels
from .text import clean, clean_text
from .times import parse_time

_KINDS = {
    "TRIGGERED": AlertKind.TRIGGER,
    "RESET": AlertKind.RESET,
    "ACKNOWLEDGED": AlertKind.ACKNOWLEDGE,
}
_SEVERITIES = {
    "NONE": Severity.INFO,
    "MINOR": Severity.LOW,
    "MODERATE": Severity.MEDIUM,
    "MAJOR": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}
_PRIORITIES = {
    "NONE": Severity.INFO,
    "LOW": Severity.LOW,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
}
_LABEL_KEYS = (
    "activityType", "statusCode", "status", "activityResult", "type", "sourceName",
    "sourceType", "severity", "priority", "userId",
)  # fmt: skip


def _kind(activity: JsonObject) -> AlertKind:
    code = (clean(activity.get("statusCode")) or clean(activity.get("status")) or "").upper()
    return _KINDS.get(code, AlertKind.INFO)


def _severity(activity: JsonObject, kind: AlertKind) -> tuple[Severity, str | None]:
    raw_severity = clean(activity.get("severity"))
    raw_priority = clean(activity.get("priority"))
    severity = _SEVERITIES.get((raw_severity or "").upper())
    priority = _PRIORITIES.get((raw_priority or "").upper())
    if severity is not None and (severity > Severity.INFO or priority is None):
        return severity, raw_severity
    if priority is not None:
        return priority, raw_priority
    return (Severity.MEDIUM if kind is AlertKind.TRIGGER else Severity.INFO), raw_severity


def _one(activity: JsonObject, ctx: IntegrationContext) -> NormalizedAlert:
    kind = _kind(activity)
    device = obj(activity.get("device"))
    device_id = clean(activity.get("deviceId")) or clean(device.get("id"))
    config_uid = clean(activity.get("sourceConfigUid"))
    activity_type = clean(activity.get("activityType"))
    condition = (
        config_uid
        or clean(activity.get("sourceName"))
        or ":".join(filter(None, (activity_type, clean(activity.get("type")))))
        or "ninjaone"
    )
    series = clean(activity.get("seriesUid")) or f"device:{device_id or '-'}:{condition}"
    severity, raw_severity = _severity(activity, kind)
    subject = clean_text(activity.get("subject"))
    message = clean_text(activity.get("message")) or subject
    labels = {k: v for k, v in scalar_labels(activity).items() if k in _LABEL_KEYS}
    if node_class := clean(device.get("nodeClass")):
        labels["nodeClass"] = node_class
    return build_alert(
        kind=kind,
        series_key=series,
        condition=condition,
        severity=severity,
        raw_severity=raw_severity,
        title=subject or clean(activity.get("sourceName")) or message,
        message=message,
        provider_event_id=clean(activity.get("id")),
        device_id=device_id,
        device_name=pick_str(device, ("displayName", "systemName", "dnsName")),
        client_id=clean(device.get("organizationId")) or clean(activity.get("organizationId")),
        client_name=clean(dig(device, "references.organization.name")),
        site_id=clean(device.get("locationId")) or clean(activity.get("locationId")),
        site_name=clean(dig(device, "references.location.name")),
        labels=labels,
        occurred_at=parse_time(activity.get("activityTime"), ctx.time_zone),
        source_ref=pick_str(activity, ("alertUid", "alertId", "data.alertUid")),
        raw_fields={
            "activityType": activity_type,
            "sourceConfigUid": config_uid,
            "data": activity.get("data"),
        },
    )


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per NinjaOne activity in the body (an object or a list of them)."""
    return [_one(activity, ctx) for activity in as_objects(load_json(raw))]
