"""Assemble a NormalizedAlert with the bounds every provider must respect."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from services.ingest.domain.alerts import TITLE_LIMIT, AlertKind, NormalizedAlert, Severity

from .text import NAME_LIMIT, bounded_key, clean, first_line, stable_hash, truncate

MESSAGE_LIMIT = 1_000_000
LABEL_LIMIT = 1024


def _key(value: str | None) -> str | None:
    return bounded_key(value) if value else None


def _name(value: str | None) -> str | None:
    return truncate(value, NAME_LIMIT) if value else None


def _storable(value: Any) -> Any:
    try:
        orjson.dumps(value)
    except (TypeError, ValueError):
        return clean(str(value)[:10_000]) if not isinstance(value, dict | list) else None
    return value


def build_alert(
    *,
    kind: AlertKind,
    series_key: str,
    condition: str | None,
    severity: Severity,
    title: str | None,
    message: str | None,
    provider_event_id: str | None = None,
    device_id: str | None = None,
    device_name: str | None = None,
    client_id: str | None = None,
    client_name: str | None = None,
    site_id: str | None = None,
    site_name: str | None = None,
    raw_severity: str | None = None,
    labels: Mapping[str, str] | None = None,
    occurred_at: datetime | None = None,
    source_ref: str | None = None,
    raw_fields: Mapping[str, Any] | None = None,
) -> NormalizedAlert:
    """Build an alert: keys bounded, title a single line ≤ 1024, extras storable."""
    full = message or title or ""
    heading = first_line(title or "", TITLE_LIMIT) or first_line(full, TITLE_LIMIT)
    stored = {key: _storable(value) for key, value in (raw_fields or {}).items()}
    extras = {key: value for key, value in stored.items() if value is not None}
    return NormalizedAlert(
        kind=kind,
        series_key=bounded_key(series_key or "unkeyed:" + stable_hash(condition or "", full)),
        condition=bounded_key(condition or "unknown"),
        severity=severity,
        title=heading or truncate(f"{condition or 'alert'} {kind.value}", TITLE_LIMIT),
        message=truncate(full, MESSAGE_LIMIT),
        provider_event_id=_key(provider_event_id),
        device_id=_key(device_id),
        device_name=_name(device_name),
        client_id=_key(client_id),
        client_name=_name(client_name),
        site_id=_key(site_id),
        site_name=_name(site_name),
        raw_severity=_name(raw_severity),
        labels={
            truncate(k, NAME_LIMIT): truncate(v, LABEL_LIMIT) for k, v in (labels or {}).items()
        },
        occurred_at=occurred_at,
        source_ref=_key(source_ref),
        raw_fields=extras,
    )
