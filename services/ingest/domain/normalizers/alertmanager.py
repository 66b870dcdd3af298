"""Prometheus Alertmanager webhook v4: one alert per element of `alerts`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.ingest.domain.alerts import AlertKind, IntegrationContext, NormalizedAlert, Severity

from .build import build_alert
from .payload import JsonObject, as_objects, load_json, obj, pick_str
from .text import clean
from .times import parse_time
from .vocab import severity_from_word

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = b"\xff"
_DEVICE_LABELS = ("instance", "host", "hostname", "nodename", "node")
_CLIENT_LABELS = ("customer", "client", "tenant")
_SITE_LABELS = ("site", "location", "datacenter")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted name/value pairs."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (_utf8(name), _SEPARATOR, _utf8(labels[name]), _SEPARATOR):
            for byte in part:
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


def _string_map(value: Any) -> dict[str, str]:
    # Keep values verbatim (no None-literal cleaning): the fingerprint hashes exact text.
    mapping = obj(value)
    return {
        k.replace("\x00", ""): v.replace("\x00", "")
        for k, v in mapping.items()
        if isinstance(k, str) and isinstance(v, str)
    }


def _fingerprint_labels(value: Any) -> dict[str, str]:
    return {k: v for k, v in obj(value).items() if isinstance(k, str) and isinstance(v, str)}


def _kind(alert: JsonObject, ctx: IntegrationContext) -> AlertKind:
    status = (clean(alert.get("status")) or "").lower()
    if status == "firing":
        return AlertKind.TRIGGER
    if status == "resolved":
        return AlertKind.RESET
    ends = parse_time(alert.get("endsAt"))
    return AlertKind.RESET if ends is not None and ends <= ctx.received_at else AlertKind.TRIGGER


def _one(alert: JsonObject, group: JsonObject, ctx: IntegrationContext) -> NormalizedAlert:
    kind = _kind(alert, ctx)
    own_labels = _fingerprint_labels(alert.get("labels"))
    labels = {**_string_map(group.get("commonLabels")), **_string_map(alert.get("labels"))}
    annotations = {
        **_string_map(group.get("commonAnnotations")),
        **_string_map(alert.get("annotations")),
    }
    fp = clean(alert.get("fingerprint")) or fingerprint(own_labels)
    starts_raw = clean(alert.get("startsAt"))
    starts = parse_time(starts_raw)
    ends = parse_time(alert.get("endsAt"))
    occurred = starts if kind is AlertKind.TRIGGER else ends
    raw_severity = clean(labels.get("severity"))
    severity = severity_from_word(raw_severity) or (
        Severity.MEDIUM if kind is AlertKind.TRIGGER else Severity.INFO
    )
    alertname = clean(labels.get("alertname"))
    summary = pick_str(annotations, ("summary", "title", "message"))
    description = pick_str(annotations, ("description", "message", "summary"))
    device = pick_str(labels, _DEVICE_LABELS)
    return build_alert(
        kind=kind,
        series_key=fp,
        condition=alertname or fp,
        severity=severity,
        raw_severity=raw_severity,
        title=summary or alertname,
        message=description or summary or alertname,
        # One firing (or resolution) of one series: repeat notifications collapse into it.
        provider_event_id=f"{fp}:{kind.value}:{starts_raw}" if starts is not None else None,
        device_id=device,
        device_name=device,
        client_name=pick_str(labels, _CLIENT_LABELS),
        site_name=pick_str(labels, _SITE_LABELS),
        labels=labels,
        occurred_at=occurred,
        raw_fields={
            "annotations": annotations,
            "generatorURL": clean(alert.get("generatorURL")),
            "externalURL": clean(group.get("externalURL")),
            "receiver": clean(group.get("receiver")),
            "groupKey": clean(group.get("groupKey")),
            "startsAt": starts.isoformat() if starts else None,
            "endsAt": ends.isoformat() if ends else None,
        },
    )


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per entry of `alerts[]`; a bare alert object is accepted as a group of one."""
    groups = as_objects(load_json(raw))
    alerts: list[NormalizedAlert] = []
    for group in groups:
        members = group.get("alerts")
        if isinstance(members, list):
            alerts.extend(_one(a, group, ctx) for a in members if isinstance(a, dict))
        elif isinstance(group.get("labels"), dict):
            alerts.append(_one(group, {}, ctx))
    return alerts
