"""N-able N-central "Third Party Integration – HTTP" XML notifications."""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree

from services.ingest.domain.alerts import (
    AlertKind,
    IntegrationContext,
    NormalizationError,
    NormalizedAlert,
    Severity,
)

from .build import build_alert
from .text import clean, decode
from .times import parse_time

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_STATE_SEVERITY = {
    "normal": Severity.INFO,
    "warning": Severity.MEDIUM,
    "failed": Severity.HIGH,
}
_LABEL_FIELDS = (
    "QualitativeOldState", "QualitativeNewState", "AffectedService", "TaskIdent",
    "ServiceOrganizationName", "DeviceURI", "DeviceClass", "ProbeURI",
)  # fmt: skip


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse(raw: bytes) -> Element:
    try:
        root: Element = ElementTree.fromstring(raw)
    except (ParseError, ValueError, LookupError):
        pass
    else:
        return root
    # Retry as text: bodies that are not UTF-8 despite their declaration parse once decoded.
    text = _DECLARATION.sub("", decode(raw), count=1)
    try:
        root = ElementTree.fromstring(text)
    except (ParseError, ValueError, LookupError) as exc:
        raise NormalizationError("invalid_xml", detail=str(exc)[:200]) from exc
    return root


def _fields(notification: Element) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in notification:
        name = _local(child.tag)
        value = clean("".join(child.itertext()))
        if name and value is not None and name not in fields:
            fields[name] = value
    return fields


def _one(fields: dict[str, str], ctx: IntegrationContext) -> NormalizedAlert:
    new_state = fields.get("QualitativeNewState")
    state = (new_state or "").lower()
    if not state:
        kind = AlertKind.INFO
    elif state == "normal":
        kind = AlertKind.RESET
    else:
        kind = AlertKind.TRIGGER
    severity = _STATE_SEVERITY.get(state, Severity.LOW if state else Severity.INFO)
    device_name = fields.get("DeviceName")
    device_id = fields.get("DeviceID") or fields.get("DeviceURI")
    device_key = fields.get("DeviceID") or device_name or device_id
    service = fields.get("AffectedService")
    task = fields.get("TaskIdent")
    condition = service or task or "ncentral"
    detail = fields.get("QuantitativeNewState") or ""
    title = f"{service or 'Service'} {new_state or 'changed'} on {device_name or 'unknown device'}"
    return build_alert(
        kind=kind,
        series_key=f"{device_key or '-'}:{task or condition}",
        condition=condition,
        severity=severity,
        raw_severity=new_state,
        title=title,
        message=f"{title}\n\n{detail}" if detail else title,
        device_id=device_id,
        device_name=device_name,
        client_id=fields.get("ExternalCustomerID") or fields.get("CustomerID"),
        client_name=fields.get("CustomerName"),
        site_id=fields.get("SiteID"),
        site_name=fields.get("SiteName"),
        labels={k: fields[k] for k in _LABEL_FIELDS if k in fields},
        occurred_at=parse_time(fields.get("TimeOfStateChange"), ctx.time_zone),
        source_ref=fields.get("ActiveNotificationTriggerID"),
        raw_fields=fields,
    )


def normalize(
    raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """One alert per `<notification>` element (the root, or several under a wrapper)."""
    root = _parse(raw)
    if _local(root.tag).lower() == "notification":
        notifications = [root]
    else:
        notifications = [el for el in root.iter() if _local(el.tag).lower() == "notification"]
    if not notifications:
        raise NormalizationError("missing_field", field="notification", detail="no <notification>")
    return [_one(_fields(n), ctx) for n in notifications]
