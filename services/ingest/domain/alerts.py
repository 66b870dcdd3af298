"""Ingest domain: normalized alerts, the integration context, delivery keys."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any

from services.ingest.domain.storable import all_storable, storable, storable_labels

TITLE_LIMIT = 1024
_TEXT_FIELDS = ("series_key", "condition", "title", "message")
_OPTIONAL_TEXT_FIELDS = (
    "provider_event_id",
    "device_id",
    "device_name",
    "client_id",
    "client_name",
    "site_id",
    "site_name",
    "raw_severity",
    "source_ref",
)


class Provider(StrEnum):
    """The webhook sources ingest understands."""

    NINJAONE = "ninjaone"
    TACTICALRMM = "tacticalrmm"
    DATTO = "datto"
    LEVEL = "level"
    ALERTMANAGER = "alertmanager"
    GENERIC = "generic"
    NCENTRAL = "ncentral"
    HUNTRESS = "huntress"


class AlertKind(StrEnum):
    """Lifecycle meaning of one alert event."""

    TRIGGER = "trigger"
    RESET = "reset"
    ACKNOWLEDGE = "acknowledge"
    INFO = "info"


class Severity(IntEnum):
    """Five normalized severity levels; higher is worse."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalizedAlert:
    """One provider alert event in provider-neutral form."""

    kind: AlertKind
    series_key: str
    condition: str
    severity: Severity
    title: str
    message: str
    provider_event_id: str | None = None
    device_id: str | None = None
    device_name: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    site_id: str | None = None
    site_name: str | None = None
    raw_severity: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    occurred_at: datetime | None = None
    source_ref: str | None = None
    raw_fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Make every text storable, validate invariants and freeze the mappings."""
        self._make_storable()
        if not self.series_key:
            raise ValueError("series_key must not be empty")
        if len(self.title) > TITLE_LIMIT:
            raise ValueError(f"title longer than {TITLE_LIMIT} characters")
        if self.occurred_at is not None and self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "raw_fields", _frozen(self.raw_fields))

    def _make_storable(self) -> None:
        # Whatever a normalizer (or an IngestAlerts caller) put in, a NUL or a lone
        # surrogate must not reach the database or the event: it would fail the whole
        # group-committed batch. One scan in the usual case where there is none.
        texts = [getattr(self, name) for name in _TEXT_FIELDS]
        texts += [v for name in _OPTIONAL_TEXT_FIELDS if (v := getattr(self, name)) is not None]
        if all_storable([*texts, *self.labels.keys(), *self.labels.values()]):
            return
        for name in (*_TEXT_FIELDS, *_OPTIONAL_TEXT_FIELDS):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, storable(value))
        object.__setattr__(self, "labels", storable_labels(self.labels))


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationContext:
    """What a normalizer may know about the integration that received the body."""

    provider: Provider
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    time_zone: str = "UTC"
    field_mapping: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Freeze the field mapping."""
        object.__setattr__(self, "field_mapping", _frozen(self.field_mapping))


class NormalizationError(ValueError):
    """The body cannot be understood at all (the gateway answers 400)."""

    def __init__(self, reason: str, *, field: str | None = None, detail: str = "") -> None:
        """Carry a stable `reason`, the offending `field` if any, and a human detail."""
        self.reason = reason
        self.field = field
        self.detail = detail
        where = f" ({field})" if field else ""
        super().__init__(f"{reason}{where}{': ' + detail if detail else ''}")


def _body_digest(integration_id: str, raw: bytes) -> Any:
    digest = hashlib.sha256()
    digest.update(integration_id.encode())
    digest.update(b"\x00")
    digest.update(raw)
    return digest


def _indexed_key(body_digest: Any, index: int) -> str:
    # A copy of the body's running hash: the body is hashed once, not once per alert.
    digest = body_digest.copy()
    if index:
        digest.update(b"\x00%d" % index)
    return str(digest.hexdigest())


def delivery_key(integration_id: str, provider_event_id: str | None, raw: bytes, index: int) -> str:
    """Key that identifies one delivered alert, so a redelivery is recognised.

    `index` disambiguates several alerts from one body: pass 0 when no disambiguation
    is needed (see `delivery_keys`).
    """
    if provider_event_id:
        return provider_event_id if index == 0 else f"{provider_event_id}#{index}"
    return _indexed_key(_body_digest(integration_id, raw), index)


def delivery_keys(
    integration_id: str, raw: bytes, alerts: list[NormalizedAlert] | tuple[NormalizedAlert, ...]
) -> list[str]:
    """Delivery keys for every alert one body produced, unique within the body.

    Linear in the body and the alerts: the body is hashed at most once (the same keys
    as :func:`delivery_key` gives one by one).
    """
    seen: dict[str, int] = {}
    keys: list[str] = []
    body_digest: Any = None
    for position, alert in enumerate(alerts):
        event_id = alert.provider_event_id
        if event_id:
            ordinal = seen.get(event_id, 0)
            seen[event_id] = ordinal + 1
            keys.append(delivery_key(integration_id, event_id, raw, ordinal))
        else:
            if body_digest is None:
                body_digest = _body_digest(integration_id, raw)
            keys.append(_indexed_key(body_digest, position))
    return keys
