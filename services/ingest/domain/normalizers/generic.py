"""Generic sources speaking the PagerDuty Events API v2 shape."""

from __future__ import annotations

from services.ingest.domain.alerts import (
    AlertKind,
    IntegrationContext,
    NormalizationError,
    NormalizedAlert,
    Severity,
)

from .build import build_alert
from .payload import JsonObject, as_objects, dumps, load_json, obj, scalar_labels
from .text import clean, clean_text, stable_hash
from .times import parse_time
from .vocab import kind_from_word, severity_from_word

_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.INFO,
}
_LABEL_KEYS = ("component", "group", "class")


def _kind(event: JsonObject) -> AlertKind:
    action = clean(event.get("event_action"))
    if action is None:
        return AlertKind.TRIGGER
    kind = kind_from_word(action)
    if kind is None or kind is AlertKind.INFO:
        raise NormalizationError(
            "invalid_value", field="event_action", detail="expected trigger, acknowledge or resolve"
        )
    return kind


def _one(event: JsonObject, ctx: IntegrationContext) -> NormalizedAlert:
    kind = _kind(event)
    payload = obj(event.get("payload")) or event
    summary = clean_text(payload.get("summary"))
    source = clean(payload.get("source"))
    dedup_key = clean(event.get("dedup_key")) or clean(event.get("incident_key"))
    if dedup_key is None:
        if kind is not AlertKind.TRIGGER:
            raise NormalizationError(
                "missing_field", field="dedup_key", detail=f"required for {kind.value}"
            )
        dedup_key = "derived:" + stable_hash(source or "", summary)
    raw_severity = clean(payload.get("severity"))
    severity = (
        _SEVERITIES.get((raw_severity or "").lower())
        or severity_from_word(raw_severity)
        or (Severity.MEDIUM if kind is AlertKind.TRIGGER else Severity.INFO)
    )
    details = payload.get("custom_details")
    detail_labels = scalar_labels(details) if isinstance(details, dict) else {}
    labels = {
        **detail_labels,
        **{k: v for k, v in scalar_labels(payload).items() if k in _LABEL_KEYS},
    }
    if client := clean(event.get("client")):
        labels["client"] = client
    condition = clean(payload.get("class")) or clean(payload.get("component")) or dedup_key
    if isinstance(details, dict | list):
        rendered = dumps(details) if details else ""
    else:
        rendered = clean_text(details)
    return build_alert(
        kind=kind,
        series_key=dedup_key,
        condition=condition,
        severity=severity,
        raw_severity=raw_severity,
        title=summary or condition,
        message="\n\n".join(filter(None, (summary, rendered))),
        device_id=source,
        device_name=source,
        labels=labels,
        occurred_at=parse_time(payload.get("timestamp"), ctx.time_zone),
        source_ref=dedup_key,
        raw_fields={
            "custom_details": details,
            "client_url": clean(event.get("client_url")),
            "links": event.get("links"),
        },
    )


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per PagerDuty-v2-style event (an object or a list of them)."""
    return [_one(event, ctx) for event in as_objects(load_json(raw))]
