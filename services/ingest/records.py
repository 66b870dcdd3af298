"""Ingest's own records: a normalized alert with the facts of its delivery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest.domain import NormalizedAlert

PROVIDER_CAPABILITIES: Mapping[str, tuple[str, ...]] = {
    "ninjaone": ("outbound_reset", "event_id"),
    "tacticalrmm": (),
    "datto": ("outbound_reset",),
    "level": ("hmac_signature", "event_id"),
    "alertmanager": ("event_id",),
    "generic": (),
    "ncentral": (),
}


@dataclass(frozen=True, slots=True)
class RawBody:
    """One delivered body as it arrived, stored once however many alerts it carried."""

    id: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert ready to be stored: what it says, and how and when it arrived."""

    alert_id: str
    tenant_id: str
    integration_id: str
    provider: str
    delivery_key: str
    received_at: datetime
    content_type: str | None
    body: RawBody
    alert: NormalizedAlert

    @property
    def series_key(self) -> str:
        """The series key, made unique within the tenant by the integration id."""
        return f"{self.integration_id}:{self.alert.series_key}"

    def row(self) -> dict[str, Any]:
        """The ``alert_events`` row."""
        a = self.alert
        return {
            "id": self.alert_id,
            "tenant_id": self.tenant_id,
            "integration_id": self.integration_id,
            "provider": self.provider,
            "kind": a.kind.value,
            "series_key": self.series_key,
            "delivery_key": self.delivery_key,
            "source_event_id": a.provider_event_id,
            "source_ref": a.source_ref,
            "device_id": a.device_id,
            "device_name": a.device_name,
            "client_id": a.client_id,
            "client_name": a.client_name,
            "site_id": a.site_id,
            "site_name": a.site_name,
            "condition": a.condition,
            "severity": int(a.severity),
            "raw_severity": a.raw_severity,
            "summary": a.title,
            "message": a.message,
            "labels": dict(a.labels),
            "occurred_at": a.occurred_at,
            "received_at": self.received_at,
            "content_type": self.content_type,
            "body_id": self.body.id,
        }

    def body_row(self) -> dict[str, Any]:
        """The ``webhook_bodies`` row of this record's body."""
        return {
            "id": self.body.id,
            "tenant_id": self.tenant_id,
            "integration_id": self.integration_id,
            "received_at": self.received_at,
            "content_type": self.content_type,
            "raw_body": self.body.raw,
        }


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The stored alert id for one record, and whether it had been stored before."""

    alert_id: str
    delivery_key: str
    duplicate: bool
