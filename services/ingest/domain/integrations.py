"""Integrations: a stored integration, its settings, and what a webhook needs of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ingest.domain.webhook_auth import WebhookCredentials

DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_RATE = 200.0
DEFAULT_BURST = 1000


@dataclass(frozen=True, slots=True)
class Integration:
    """One integration as stored; the secrets are sealed (never shown after creation)."""

    id: str
    tenant_id: str
    provider: str
    display_name: str
    disabled: bool
    settings: Mapping[str, Any]
    secret: bytes = field(repr=False)
    secret_created_at: datetime
    previous_secret: bytes | None = field(repr=False)
    previous_secret_expires_at: datetime | None
    api_secret: bytes | None = field(repr=False)
    last_received_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    deleted_at: datetime | None
    silent_since: datetime | None = None
    signing_secret: bytes | None = field(default=None, repr=False)

    @property
    def etag(self) -> str:
        """The weak etag of this version."""
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True)
class IntegrationSettings:
    """Settings as a request gives them: the stored document (without the API client
    secret, which is stored apart, sealed) and the values the service checks."""

    document: Mapping[str, Any]
    time_zone: str
    max_body_bytes: int
    has_rate_limit: bool
    requests_per_second: float
    burst: float
    api_base_url: str
    api_client_secret: str = field(repr=False)
    webhook_signing_secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """An integration with the secret just issued for it (shown once)."""

    integration: Integration
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class WebhookIntegration:
    """An integration as the webhook use case needs it: credentials and its limits."""

    credentials: WebhookCredentials
    time_zone: str
    field_mappings: dict[str, str]
    max_body_bytes: int
    rate: float
    burst: float
    #: Whether the integration is reconciled by polling (late webhooks are compared with
    #: the alerts polling created).
    polled: bool = False


def webhook_limits(settings: Mapping[str, Any]) -> tuple[int, float, float]:
    """The body size limit, rate and burst of stored settings (defaults where unset)."""
    rate = settings.get("rate_limit") or {}
    return (
        int(settings.get("max_body_bytes") or DEFAULT_MAX_BODY_BYTES),
        float(rate.get("requests_per_second") or DEFAULT_RATE),
        float(rate.get("burst") or DEFAULT_BURST),
    )
