"""Ingest's own records: a normalized alert with the facts of its delivery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Severity

# A webhook's alerts are stored, announced and answered together: the cap bounds what one
# request can make the writer and the relay do in one go, whatever body size a tenant set.
MAX_ALERTS_PER_WEBHOOK = 1000

# ``polling``: services/ingest/clients/poll lists the provider's active alerts;
# ``outbound_reset``: its API resolves an alert (Huntress: with a user-based key allowed
# to resolve, and only incidents whose remediations are approved; docs/POLLING.md).
PROVIDER_CAPABILITIES: Mapping[str, tuple[str, ...]] = {
    "ninjaone": ("outbound_reset", "event_id", "polling"),
    "tacticalrmm": ("outbound_reset", "polling"),
    "datto": ("outbound_reset", "polling"),
    "level": ("hmac_signature", "event_id", "outbound_reset", "polling"),
    "alertmanager": ("event_id",),
    "generic": (),
    "ncentral": (),
    "huntress": ("hmac_signature", "event_id", "outbound_reset", "polling"),
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
    #: Whether storing it shows the source is alive (a synthesized "source silent" alert
    #: does not).
    from_source: bool = True

    @property
    def series_key(self) -> str:
        """The series key, made unique within the tenant by the integration id."""
        return f"{self.integration_id}:{self.alert.series_key}"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The stored alert id for one record, and whether it had been stored before."""

    alert_id: str
    delivery_key: str
    duplicate: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertDraft:
    """An already-normalized alert as an internal caller sent it, not yet checked
    (``kind`` empty when unset); ``raw`` is how it arrived."""

    integration_id: str
    delivery_key: str
    kind: str
    series_key: str
    condition: str
    severity: int
    summary: str
    message: str
    source_event_id: str
    device_id: str
    device_name: str
    client_id: str
    client_name: str
    site_id: str
    site_name: str
    raw_severity: str
    labels: Mapping[str, str]
    occurred_at: datetime | None
    raw: bytes

    def problems(self) -> list[tuple[str, str]]:
        """The fields that are missing, as ``(field, description)``, in field order."""
        found: list[tuple[str, str]] = []
        if not self.kind:
            found.append(("kind", "must be set"))
        if not self.series_key:
            found.append(("series_key", "must not be empty"))
        if not self.condition:
            found.append(("condition", "must not be empty"))
        return found

    def normalized(self) -> NormalizedAlert:
        """The normalized alert (ValueError if a value is out of range)."""
        return NormalizedAlert(
            kind=AlertKind(self.kind),
            series_key=self.series_key,
            condition=self.condition,
            severity=Severity(self.severity or Severity.MEDIUM),
            title=self.summary or self.condition,
            message=self.message,
            provider_event_id=self.source_event_id or None,
            device_id=self.device_id or None,
            device_name=self.device_name or None,
            client_id=self.client_id or None,
            client_name=self.client_name or None,
            site_id=self.site_id or None,
            site_name=self.site_name or None,
            raw_severity=self.raw_severity or None,
            labels=dict(self.labels),
            occurred_at=self.occurred_at,
        )
