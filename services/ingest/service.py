"""Ingest use cases: tenants, integrations, webhook credentials, alert storage and queries.

Each use case opens one transaction. Mutations with a ``request_id`` store their answer in
the same transaction, so a retry gets the first answer back (the answer is sealed with the
secrets key when it carries a secret).
"""

from __future__ import annotations

import secrets as pysecrets
import time
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from google.protobuf import wrappers_pb2
from google.protobuf.message import Message
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import store
from services.ingest.domain import Provider
from services.ingest.errors import AlertNotFound, IntegrationNotFound, TenantNotFound
from services.ingest.mapping import settings_to_json
from services.ingest.models import integrations, requests, tenants
from services.ingest.records import AlertRecord, WriteResult
from services.ingest.webhook_auth import WebhookCredentials
from services.ingest.writer import AlertWriter
from triage.ingest.v1 import events_pb2
from triage.ingest.v1 import resources_pb2 as pb
from triage.runtime import (
    Aborted,
    Database,
    FieldViolation,
    IdempotentReply,
    InvalidArgument,
    Outbox,
    SecretBox,
    new_envelope,
)

M = TypeVar("M", bound=Message)
ADMIN_TENANT = "00000000-0000-0000-0000-000000000000"
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
CREDENTIALS_TTL_SECONDS = 5.0
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_RATE = 200.0
DEFAULT_BURST = 1000


@dataclass(frozen=True, slots=True)
class GatewayIntegration:
    """An integration as the gateway uses it: credentials and per-integration limits."""

    credentials: WebhookCredentials
    time_zone: str
    field_mappings: dict[str, str]
    max_body_bytes: int
    rate: float
    burst: float


def validate_time_zone(name: str, field: str) -> None:
    """INVALID_ARGUMENT unless ``name`` is an IANA zone."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument.field(field, f"unknown IANA time zone {name!r}") from exc


def validate_settings(
    settings: pb.IntegrationSettings, prefix: str = "integration.settings"
) -> None:
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
    if settings.HasField("rate_limit") and (
        settings.rate_limit.requests_per_second < 0 or settings.rate_limit.burst < 0
    ):
        violations.append(FieldViolation(f"{prefix}.rate_limit", "must not be negative"))
    if settings.api.base_url and not settings.api.base_url.startswith(("https://", "http://")):
        violations.append(FieldViolation(f"{prefix}.api.base_url", "must be an http(s) URL"))
    if violations:
        raise InvalidArgument("invalid integration settings", violations=violations)


def new_secret() -> str:
    """A fresh webhook secret (256 bits, URL-safe)."""
    return pysecrets.token_urlsafe(32)


class IngestService:
    """The ingest service's use cases."""

    def __init__(
        self, *, db: Database, outbox: Outbox, writer: AlertWriter, box: SecretBox
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.writer = writer
        self.box = box
        self._credentials: dict[str, tuple[float, GatewayIntegration | None]] = {}

    # -- idempotency -------------------------------------------------------------------

    async def _once(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        method: str,
        request_id: str,
        response_type: type[M],
        build: Callable[[], Awaitable[M]],
        sealed: bool = False,
    ) -> M:
        # Stored as the response's bytes in a BytesValue, sealed when the answer carries a
        # secret: the table never holds a secret in clear.
        stored = IdempotentReply(
            method, request_id, wrappers_pb2.BytesValue, partial(self._stored, sealed=sealed)
        )
        if (previous := await stored.replay(session, requests, tenant_id)) is not None:
            answer = response_type()
            answer.ParseFromString(self.box.decrypt(previous.value) if sealed else previous.value)
            return answer
        response = await build()
        await stored.answer(session, requests, tenant_id, response)
        return response

    def _stored(self, response: Message, *, sealed: bool) -> wrappers_pb2.BytesValue:
        raw = response.SerializeToString()
        return wrappers_pb2.BytesValue(value=self.box.encrypt(raw) if sealed else raw)

    # -- tenants -----------------------------------------------------------------------

    async def create_tenant(
        self,
        *,
        display_name: str,
        time_zone: str,
        request_id: str,
        respond: Callable[[Any], M],
        response_type: type[M],
    ) -> M:
        """Register a tenant and announce it (``tenant.changed``)."""
        if not display_name.strip():
            raise InvalidArgument.field("tenant.display_name", "must not be empty")
        validate_time_zone(time_zone or "UTC", "tenant.time_zone")
        async with self.db.system_transaction() as session:

            async def build() -> M:
                tenant_id = str(uuid.uuid4())
                row = (
                    await session.execute(
                        tenants.insert()
                        .values(
                            id=tenant_id,
                            tenant_id=tenant_id,
                            display_name=display_name.strip(),
                            time_zone=time_zone or "UTC",
                        )
                        .returning(*tenants.c)
                    )
                ).one()
                answer = respond(row._mapping)
                await self._announce_tenant(session, row._mapping, events_pb2.TENANT_CHANGE_CREATED)
                return answer

            return await self._once(
                session,
                tenant_id=ADMIN_TENANT,
                method="CreateTenant",
                request_id=request_id,
                response_type=response_type,
                build=build,
            )

    async def _announce_tenant(
        self, session: AsyncSession, row: Any, change: events_pb2.TenantChange.ValueType
    ) -> None:
        from services.ingest.mapping import tenant_to_proto

        await self.outbox.add(
            session,
            new_envelope(
                tenant_id=str(row["id"]),
                event_type="tenant.changed",
                payload=events_pb2.TenantChanged(change=change, tenant=tenant_to_proto(row)),
                producer="ingest",
                # One tenant's changes are applied in order (one partition).
                ordering_key=str(row["id"]),
            ),
        )

    async def get_tenant(self, tenant_id: str) -> Any:
        """One tenant, as the tenant itself sees it."""
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_tenant(session, tenant_id)
        if row is None:
            raise TenantNotFound(f"tenant {tenant_id} not found")
        return row._mapping

    async def get_tenant_any(self, tenant_id: str) -> Any:
        """One tenant, for an administrator."""
        async with self.db.system_transaction() as session:
            row = await store.get_tenant(session, tenant_id)
        if row is None:
            raise TenantNotFound(f"tenant {tenant_id} not found")
        return row._mapping

    async def list_tenants(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Any]:
        """A page of every tenant (administrators only)."""
        async with self.db.system_transaction() as session:
            return [r._mapping for r in await store.list_tenants(session, after=after, limit=limit)]

    async def update_tenant(self, *, tenant_id: str, changes: dict[str, Any], etag: str) -> Any:
        """Change a tenant's name or zone (etag-checked) and announce it."""
        if "time_zone" in changes:
            validate_time_zone(changes["time_zone"], "tenant.time_zone")
        async with self.db.system_transaction() as session:
            row = await store.get_tenant(session, tenant_id)
            if row is None:
                raise TenantNotFound(f"tenant {tenant_id} not found")
            if etag and etag != f'W/"{row.version}"':
                raise Aborted("the tenant changed since it was read (stale etag)")
            updated = (
                await session.execute(
                    update(tenants)
                    .where(tenants.c.id == tenant_id)
                    .values(**changes, updated_at=datetime.now(UTC), version=row.version + 1)
                    .returning(*tenants.c)
                )
            ).one()
            await self._announce_tenant(session, updated._mapping, events_pb2.TENANT_CHANGE_UPDATED)
            return updated._mapping

    # -- integrations ------------------------------------------------------------------

    async def create_integration(
        self,
        *,
        tenant_id: str,
        provider: str,
        display_name: str,
        settings: pb.IntegrationSettings,
        request_id: str,
        respond: Callable[[Any, str], M],
        response_type: type[M],
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
        async with self.db.transaction(tenant_id) as session:

            async def build() -> M:
                if await store.get_tenant(session, tenant_id) is None:
                    raise TenantNotFound("the caller's tenant is not registered")
                secret = new_secret()
                integration_id = str(uuid.uuid4())
                api_secret = settings.api.client_secret
                row = (
                    await session.execute(
                        integrations.insert()
                        .values(
                            id=integration_id,
                            tenant_id=tenant_id,
                            provider=provider,
                            display_name=display_name.strip(),
                            settings=settings_to_json(settings),
                            secret=self.box.encrypt(
                                secret.encode(), associated_data=_aad(integration_id)
                            ),
                            secret_created_at=datetime.now(UTC),
                            api_secret=self.box.encrypt(
                                api_secret.encode(), associated_data=_aad(integration_id)
                            )
                            if api_secret
                            else None,
                        )
                        .returning(*integrations.c)
                    )
                ).one()
                return respond(row._mapping, secret)

            return await self._once(
                session,
                tenant_id=tenant_id,
                method="CreateIntegration",
                request_id=request_id,
                response_type=response_type,
                build=build,
                sealed=True,
            )

    async def get_integration(self, *, tenant_id: str, integration_id: str) -> Any:
        """One integration of the tenant."""
        _require_uuid(integration_id, "integration_id")
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_integration(session, integration_id)
        if row is None:
            raise IntegrationNotFound(f"integration {integration_id} not found")
        return row._mapping

    async def list_integrations(
        self,
        *,
        tenant_id: str,
        provider: str | None,
        show_disabled: bool,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Any]:
        """A page of the tenant's integrations."""
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_integrations(
                session, provider=provider, show_disabled=show_disabled, after=after, limit=limit
            )
        return [r._mapping for r in rows]

    async def update_integration(
        self,
        *,
        tenant_id: str,
        integration_id: str,
        etag: str,
        display_name: str | None,
        disabled: bool | None,
        settings: pb.IntegrationSettings | None,
    ) -> Any:
        """Change an integration's name, state or settings (etag-checked)."""
        _require_uuid(integration_id, "integration.id")
        if display_name is not None and not display_name.strip():
            raise InvalidArgument.field("integration.display_name", "must not be empty")
        if settings is not None:
            validate_settings(settings)
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_integration(session, integration_id)
            if row is None:
                raise IntegrationNotFound(f"integration {integration_id} not found")
            if etag and etag != f'W/"{row.version}"':
                raise Aborted("the integration changed since it was read (stale etag)")
            values: dict[str, Any] = {"updated_at": datetime.now(UTC), "version": row.version + 1}
            if display_name is not None:
                values["display_name"] = display_name.strip()
            if disabled is not None:
                values["disabled"] = disabled
            if settings is not None:
                values["settings"] = settings_to_json(settings)
                if settings.api.client_secret:
                    values["api_secret"] = self.box.encrypt(
                        settings.api.client_secret.encode(), associated_data=_aad(integration_id)
                    )
            updated = (
                await session.execute(
                    update(integrations)
                    .where(integrations.c.id == integration_id)
                    .values(**values)
                    .returning(*integrations.c)
                )
            ).one()
        self._credentials.pop(integration_id, None)
        return updated._mapping

    async def delete_integration(self, *, tenant_id: str, integration_id: str, etag: str) -> None:
        """Delete an integration: its webhooks stop being accepted; its alerts are kept."""
        _require_uuid(integration_id, "integration_id")
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_integration(session, integration_id)
            if row is None:
                raise IntegrationNotFound(f"integration {integration_id} not found")
            if etag and etag != f'W/"{row.version}"':
                raise Aborted("the integration changed since it was read (stale etag)")
            await session.execute(
                update(integrations)
                .where(integrations.c.id == integration_id)
                .values(deleted_at=datetime.now(UTC), version=row.version + 1)
            )
        self._credentials.pop(integration_id, None)

    async def rotate_secret(
        self,
        *,
        tenant_id: str,
        integration_id: str,
        overlap: timedelta | None,
        request_id: str,
        respond: Callable[[Any, str], M],
        response_type: type[M],
    ) -> M:
        """Issue a new secret; the old one stays valid for ``overlap`` (default 24 h)."""
        _require_uuid(integration_id, "integration_id")
        window = DEFAULT_ROTATION_OVERLAP if overlap is None else overlap
        if window < timedelta(0) or window > timedelta(days=30):
            raise InvalidArgument.field("overlap", "must be between 0 and 30 days")
        async with self.db.transaction(tenant_id) as session:

            async def build() -> M:
                row = await store.get_integration(session, integration_id)
                if row is None:
                    raise IntegrationNotFound(f"integration {integration_id} not found")
                secret = new_secret()
                now = datetime.now(UTC)
                updated = (
                    await session.execute(
                        update(integrations)
                        .where(integrations.c.id == integration_id)
                        .values(
                            secret=self.box.encrypt(
                                secret.encode(), associated_data=_aad(integration_id)
                            ),
                            secret_created_at=now,
                            previous_secret=row.secret,
                            previous_secret_expires_at=now + window,
                            updated_at=now,
                            version=row.version + 1,
                        )
                        .returning(*integrations.c)
                    )
                ).one()
                return respond(updated._mapping, secret)

            answer = await self._once(
                session,
                tenant_id=tenant_id,
                method="RotateIntegrationSecret",
                request_id=request_id,
                response_type=response_type,
                build=build,
                sealed=True,
            )
        self._credentials.pop(integration_id, None)
        return answer

    async def gateway_integration(self, integration_id: str) -> GatewayIntegration | None:
        """The integration behind a webhook URL, cached for a few seconds (any tenant)."""
        now = time.monotonic()
        cached = self._credentials.get(integration_id)
        if cached is not None and now - cached[0] < CREDENTIALS_TTL_SECONDS:
            return cached[1]
        found: GatewayIntegration | None = None
        if _is_uuid(integration_id):
            async with self.db.system_transaction() as session:
                row = await store.webhook_credentials(session, integration_id)
            if row is not None:
                found = self._gateway_view(row._mapping)
        if len(self._credentials) > 100_000:
            self._credentials.clear()
        self._credentials[integration_id] = (now, found)
        return found

    def _gateway_view(self, row: Any) -> GatewayIntegration:
        aad = _aad(str(row["id"]))
        settings = row["settings"] or {}
        rate = settings.get("rate_limit") or {}
        return GatewayIntegration(
            credentials=WebhookCredentials(
                integration_id=str(row["id"]),
                tenant_id=str(row["tenant_id"]),
                provider=row["provider"],
                secret=self.box.decrypt(row["secret"], associated_data=aad),
                previous_secret=self.box.decrypt(row["previous_secret"], associated_data=aad)
                if row["previous_secret"] is not None
                else None,
                previous_expires_at=row["previous_secret_expires_at"],
                allow_query_token=settings.get("allow_query_token") is True,
                disabled=row["disabled"],
            ),
            time_zone=settings.get("time_zone") or "UTC",
            field_mappings=dict(settings.get("field_mappings") or {}),
            max_body_bytes=int(settings.get("max_body_bytes") or DEFAULT_MAX_BODY_BYTES),
            rate=float(rate.get("requests_per_second") or DEFAULT_RATE),
            burst=float(rate.get("burst") or DEFAULT_BURST),
        )

    # -- alerts ------------------------------------------------------------------------

    async def store_alerts(self, records: Sequence[AlertRecord]) -> list[WriteResult]:
        """Store alerts durably and idempotently (group-committed with other requests)."""
        return await self.writer.write(records)

    async def ingest_normalized(
        self,
        *,
        tenant_id: str,
        request_id: str,
        records: Sequence[AlertRecord],
        respond: Callable[[list[WriteResult]], M],
        response_type: type[M],
    ) -> M:
        """IngestAlerts: already-normalized alerts from internal callers, once per request."""
        reply = IdempotentReply("IngestAlerts", request_id, response_type, respond)
        async with self.db.transaction(tenant_id) as session:
            if (previous := await reply.replay(session, requests, tenant_id)) is not None:
                return previous
        results = await self.writer.write(records)
        if not request_id:
            return respond(results)
        async with self.db.transaction(tenant_id) as session:
            return await reply.answer(session, requests, tenant_id, results)

    async def get_alert(self, *, tenant_id: str, alert_id: str) -> Any:
        """One alert event of the tenant."""
        _require_uuid(alert_id, "alert_id")
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_alert(session, alert_id)
        if row is None:
            raise AlertNotFound(f"alert {alert_id} not found")
        return row._mapping

    async def list_alerts(
        self,
        *,
        tenant_id: str,
        filters: dict[str, Any],
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Any]:
        """A page of the tenant's alert events, newest first."""
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_alerts(session, filters=filters, before=before, limit=limit)
        return [r._mapping for r in rows]


def _aad(integration_id: str) -> bytes:
    return f"integration:{integration_id}".encode()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _require_uuid(value: str, field: str) -> None:
    if not _is_uuid(value):
        raise InvalidArgument.field(field, "must be a UUID")
