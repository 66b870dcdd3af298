"""Tenant use cases: the registry ingest owns (create, read, list, update)."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message

from services.ingest import events
from services.ingest.domain.tenants import Tenant, TenantChanges
from services.ingest.errors import TenantNotFound
from services.ingest.service.base import ADMIN_TENANT, ServiceBase
from services.ingest.store import tenants as store
from services.ingest.store.requests import requests
from triage.runtime import Aborted, FailedPrecondition, IdempotentReply, InvalidArgument, check_etag

M = TypeVar("M", bound=Message)


def validate_time_zone(name: str, field: str) -> None:
    """INVALID_ARGUMENT unless ``name`` is an IANA zone."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument.field(field, f"unknown IANA time zone {name!r}") from exc


class TenantUseCases(ServiceBase):
    """The tenant registry."""

    async def create_tenant(
        self, *, display_name: str, time_zone: str, reply: IdempotentReply[Tenant, M]
    ) -> M:
        """Register a tenant and announce it (``tenant.changed``)."""
        if not display_name.strip():
            raise InvalidArgument.field("tenant.display_name", "must not be empty")
        validate_time_zone(time_zone or "UTC", "tenant.time_zone")
        async with self.db.system_transaction() as session:
            if (previous := await reply.replay(session, requests, ADMIN_TENANT)) is not None:
                return previous
            tenant_id = str(uuid.uuid4())
            tenant = await store.insert_tenant(
                session,
                tenant_id=tenant_id,
                display_name=display_name.strip(),
                time_zone=time_zone or "UTC",
            )
            answer = await reply.answer(session, requests, ADMIN_TENANT, tenant)
            await self.outbox.add(session, events.tenant_changed(tenant, created=True))
            return answer

    async def get_tenant(self, tenant_id: str) -> Tenant:
        """One tenant, as the tenant itself sees it."""
        async with self.db.transaction(tenant_id) as session:
            tenant = await store.get_tenant(session, tenant_id)
        if tenant is None:
            raise TenantNotFound(f"tenant {tenant_id} not found")
        return tenant

    async def get_tenant_any(self, tenant_id: str) -> Tenant:
        """One tenant, for an administrator."""
        async with self.db.system_transaction() as session:
            tenant = await store.get_tenant(session, tenant_id)
        if tenant is None:
            raise TenantNotFound(f"tenant {tenant_id} not found")
        return tenant

    async def list_tenants(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Tenant]:
        """A page of every tenant (administrators only)."""
        async with self.db.system_transaction() as session:
            return await store.list_tenants(session, after=after, limit=limit)

    async def update_tenant(self, *, tenant_id: str, changes: TenantChanges, etag: str) -> Tenant:
        """Change a tenant's name, zone or state (etag-checked; an empty etag skips the
        check) and announce it; a suspension or resumption reaches every service at once."""
        values: dict[str, str] = {}
        if changes.display_name is not None:
            values["display_name"] = changes.display_name
        if changes.time_zone is not None:
            values["time_zone"] = changes.time_zone
            validate_time_zone(changes.time_zone, "tenant.time_zone")
        if changes.state is not None:
            if changes.state not in ("active", "suspended"):
                raise InvalidArgument.field("tenant.state", "must be ACTIVE or SUSPENDED")
            values["state"] = changes.state
        async with self.db.system_transaction() as session:
            tenant = await store.get_tenant(session, tenant_id)
            if tenant is None:
                raise TenantNotFound(f"tenant {tenant_id} not found")
            if tenant.state == "deleting":
                # Resuming or renaming it would hand the services rows they are deleting.
                raise FailedPrecondition(f"the tenant {tenant_id} is being deleted")
            check_etag(
                etag,
                tenant.etag,
                lambda: Aborted("the tenant changed since it was read (stale etag)"),
            )
            updated = await store.update_tenant(
                session,
                tenant_id=tenant_id,
                changes=values,
                version=tenant.version + 1,
                at=datetime.now(UTC),
            )
            await self.outbox.add(session, events.tenant_changed(updated, created=False))
        if self.publisher is not None and updated.state != tenant.state:
            # After commit; the periodic sync heals a publish lost in a crash.
            await self.publisher.suspend(tenant_id, suspended=updated.state == "suspended")
        return updated
