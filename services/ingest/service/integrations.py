"""Integration use cases: create, read, list, update, delete, rotate the webhook secret,
and the cached view of an integration the webhook path reads.

Each use case opens one transaction. Mutations with a ``request_id`` store their answer in
the same transaction, so a retry gets the first answer back.
"""

from __future__ import annotations

import secrets as pysecrets
import time
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.message import Message

from services.ingest.domain import svix
from services.ingest.domain.alerts import Provider
from services.ingest.domain.integrations import (
    Integration,
    IntegrationSettings,
    IssuedSecret,
    WebhookIntegration,
    webhook_limits,
)
from services.ingest.domain.polling import polling_wanted
from services.ingest.domain.webhook_auth import WebhookCredentials
from services.ingest.errors import IntegrationNotFound, TenantNotFound
from services.ingest.service.base import ServiceBase, sealing_aad
from services.ingest.store import integrations as store
from services.ingest.store.deleted_integrations import is_buried_integration
from services.ingest.store.requests import requests
from services.ingest.store.tenants import get_tenant
from triage.runtime import (
    Aborted,
    FieldViolation,
    IdempotentReply,
    InvalidArgument,
    check_etag,
    is_uuid,
    once,
    require_uuid,
)

M = TypeVar("M", bound=Message)
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
CREDENTIALS_TTL_SECONDS = 5.0


def validate_settings(settings: IntegrationSettings, prefix: str = "integration.settings") -> None:
    """Field violations for integration settings."""
    violations: list[FieldViolation] = []
    if settings.time_zone:
        try:
            zoneinfo.ZoneInfo(settings.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            violations.append(FieldViolation(f"{prefix}.time_zone", "unknown IANA time zone"))
    if settings.max_body_bytes < 0 or settings.max_body_bytes > 16 * 1024 * 1024:
        violations.append(
            FieldViolation(f"{prefix}.max_body_bytes", "must be between 0 and 16 MiB")
        )
    if settings.has_rate_limit and (settings.requests_per_second < 0 or settings.burst < 0):
        violations.append(FieldViolation(f"{prefix}.rate_limit", "must not be negative"))
    if settings.api_base_url and not settings.api_base_url.startswith(("https://", "http://")):
        violations.append(FieldViolation(f"{prefix}.api.base_url", "must be an http(s) URL"))
    if settings.webhook_signing_secret and not svix.valid_secret(settings.webhook_signing_secret):
        violations.append(
            FieldViolation(
                f"{prefix}.webhook_signing_secret", "must be a whsec_ secret (base64 after it)"
            )
        )
    if violations:
        raise InvalidArgument("invalid integration settings", violations=violations)


def new_secret() -> str:
    """A fresh webhook secret (256 bits, URL-safe)."""
    return pysecrets.token_urlsafe(32)


def _stale() -> Aborted:
    return Aborted("the integration changed since it was read (stale etag)")


class IntegrationUseCases(ServiceBase):
    """Integrations of a tenant and their webhook secrets."""

    async def create_integration(
        self,
        *,
        tenant_id: str,
        provider: str,
        display_name: str,
        settings: IntegrationSettings,
        reply: IdempotentReply[IssuedSecret, M],
    ) -> M:
        """Create an integration with a server-generated secret, shown once."""
        violations: list[FieldViolation] = []
        if provider not in {p.value for p in Provider}:
            violations.append(FieldViolation("integration.provider", "unknown provider"))
        if not display_name.strip():
            violations.append(FieldViolation("integration.display_name", "must not be empty"))
        if violations:
            raise InvalidArgument("invalid integration", violations=violations)
        validate_settings(settings)

        async def work(session: Any) -> IssuedSecret:
            if await get_tenant(session, tenant_id) is None:
                raise TenantNotFound("the caller's tenant is not registered")
            secret = new_secret()
            integration_id = str(uuid.uuid4())
            aad = sealing_aad(integration_id)
            api_secret = settings.api_client_secret
            integration = await store.insert_integration(
                session,
                {
                    "id": integration_id,
                    "tenant_id": tenant_id,
                    "provider": provider,
                    "display_name": display_name.strip(),
                    "settings": dict(settings.document),
                    "secret": self.box.encrypt(secret.encode(), associated_data=aad),
                    "secret_created_at": datetime.now(UTC),
                    "api_secret": self.box.encrypt(api_secret.encode(), associated_data=aad)
                    if api_secret
                    else None,
                    "signing_secret": self.box.encrypt(
                        settings.webhook_signing_secret.encode(), associated_data=aad
                    )
                    if settings.webhook_signing_secret
                    else None,
                },
            )
            return IssuedSecret(integration, secret)

        return await once(self.db, requests, tenant_id, reply, work)

    async def get_integration(self, *, tenant_id: str, integration_id: str) -> Integration:
        """One integration of the tenant."""
        require_uuid(integration_id, "integration_id")
        async with self.db.transaction(tenant_id) as session:
            integration = await store.get_integration(session, integration_id)
        if integration is None:
            raise IntegrationNotFound(f"integration {integration_id} not found")
        return integration

    async def list_integrations(
        self,
        *,
        tenant_id: str,
        provider: str | None,
        show_disabled: bool,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Integration]:
        """A page of the tenant's integrations."""
        async with self.db.transaction(tenant_id) as session:
            return await store.list_integrations(
                session, provider=provider, show_disabled=show_disabled, after=after, limit=limit
            )

    async def update_integration(
        self,
        *,
        tenant_id: str,
        integration_id: str,
        etag: str,
        display_name: str | None,
        disabled: bool | None,
        settings: IntegrationSettings | None,
    ) -> Integration:
        """Change an integration's name, state or settings (etag-checked)."""
        require_uuid(integration_id, "integration.id")
        if display_name is not None and not display_name.strip():
            raise InvalidArgument.field("integration.display_name", "must not be empty")
        if settings is not None:
            validate_settings(settings)
        async with self.db.transaction(tenant_id) as session:
            integration = await store.get_integration(session, integration_id)
            if integration is None:
                raise IntegrationNotFound(f"integration {integration_id} not found")
            check_etag(etag, integration.etag, _stale)
            values: dict[str, Any] = {
                "updated_at": datetime.now(UTC),
                "version": integration.version + 1,
            }
            if display_name is not None:
                values["display_name"] = display_name.strip()
            if disabled is not None:
                values["disabled"] = disabled
            if settings is not None:
                values["settings"] = dict(settings.document)
                if settings.api_client_secret:
                    values["api_secret"] = self.box.encrypt(
                        settings.api_client_secret.encode(),
                        associated_data=sealing_aad(integration_id),
                    )
                if settings.webhook_signing_secret:
                    values["signing_secret"] = self.box.encrypt(
                        settings.webhook_signing_secret.encode(),
                        associated_data=sealing_aad(integration_id),
                    )
            updated = await store.update_integration(session, integration_id, values)
        self._forget_credentials(integration_id)
        return updated

    async def delete_integration(self, *, tenant_id: str, integration_id: str, etag: str) -> None:
        """Delete an integration: its webhooks stop being accepted; its alerts are kept."""
        require_uuid(integration_id, "integration_id")
        async with self.db.transaction(tenant_id) as session:
            integration = await store.get_integration(session, integration_id)
            if integration is None:
                raise IntegrationNotFound(f"integration {integration_id} not found")
            check_etag(etag, integration.etag, _stale)
            await store.mark_deleted(
                session, integration_id, at=datetime.now(UTC), version=integration.version + 1
            )
        self._forget_credentials(integration_id)

    async def rotate_secret(
        self,
        *,
        tenant_id: str,
        integration_id: str,
        overlap: timedelta | None,
        reply: IdempotentReply[IssuedSecret, M],
    ) -> M:
        """Issue a new secret; the old one stays valid for ``overlap`` (default 24 h)."""
        require_uuid(integration_id, "integration_id")
        window = DEFAULT_ROTATION_OVERLAP if overlap is None else overlap
        if window < timedelta(0) or window > timedelta(days=30):
            raise InvalidArgument.field("overlap", "must be between 0 and 30 days")

        async def work(session: Any) -> IssuedSecret:
            integration = await store.get_integration(session, integration_id)
            if integration is None:
                raise IntegrationNotFound(f"integration {integration_id} not found")
            secret = new_secret()
            now = datetime.now(UTC)
            updated = await store.update_integration(
                session,
                integration_id,
                {
                    "secret": self.box.encrypt(
                        secret.encode(), associated_data=sealing_aad(integration_id)
                    ),
                    "secret_created_at": now,
                    "previous_secret": integration.secret,
                    "previous_secret_expires_at": now + window,
                    "updated_at": now,
                    "version": integration.version + 1,
                },
            )
            return IssuedSecret(updated, secret)

        answer = await once(self.db, requests, tenant_id, reply, work)
        self._forget_credentials(integration_id)
        return answer

    async def webhook_integration(self, integration_id: str) -> WebhookIntegration | None:
        """The integration behind a webhook URL, cached for a few seconds (any tenant)."""
        now = time.monotonic()
        cached = self._credentials.get(integration_id)
        if cached is not None and now - cached[0] < CREDENTIALS_TTL_SECONDS:
            return cached[1]
        found: WebhookIntegration | None = None
        if is_uuid(integration_id):
            async with self.db.system_transaction() as session:
                integration = await store.get_integration(session, integration_id)
                buried = integration is None and await is_buried_integration(
                    session, integration_id
                )
            if integration is not None:
                found = self._webhook_view(integration)
            elif buried:
                if len(self._buried_integrations) > 100_000:
                    self._buried_integrations.clear()
                self._buried_integrations.add(integration_id)
        if len(self._credentials) > 100_000:
            self._credentials.clear()
        self._credentials[integration_id] = (now, found)
        return found

    def integration_buried(self, integration_id: str) -> bool:
        """Whether the last :meth:`webhook_integration` of this id found it among the
        integrations of deleted tenants (no row left, its tombstone instead)."""
        return integration_id in self._buried_integrations

    def _webhook_view(self, integration: Integration) -> WebhookIntegration:
        aad = sealing_aad(integration.id)
        settings = integration.settings or {}
        max_body_bytes, rate, burst = webhook_limits(settings)
        return WebhookIntegration(
            credentials=WebhookCredentials(
                integration_id=str(integration.id),
                tenant_id=str(integration.tenant_id),
                provider=integration.provider,
                secret=self.box.decrypt(integration.secret, associated_data=aad),
                previous_secret=self.box.decrypt(integration.previous_secret, associated_data=aad)
                if integration.previous_secret is not None
                else None,
                previous_expires_at=integration.previous_secret_expires_at,
                allow_query_token=settings.get("allow_query_token") is True,
                disabled=integration.disabled,
                signing_secret=self.box.decrypt(
                    integration.signing_secret, associated_data=aad
                ).decode()
                if integration.signing_secret is not None
                else None,
            ),
            polled=polling_wanted(
                provider=integration.provider,
                settings=settings,
                has_secret=integration.api_secret is not None,
                disabled=integration.disabled,
            ),
            time_zone=settings.get("time_zone") or "UTC",
            field_mappings=dict(settings.get("field_mappings") or {}),
            max_body_bytes=max_body_bytes,
            rate=rate,
            burst=burst,
        )
