"""The tenant's ticket settings: read them, change some of them (issue 18)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from services.tickets import events as ev
from services.tickets.domain.tickets import Status, TenantSettings
from services.tickets.errors import EtagMismatch
from services.tickets.service.base import M, ServiceBase
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store
from services.tickets.store.requests import requests
from triage.runtime import IdempotentReply, InvalidArgument, check_etag


class SettingsUseCases(ServiceBase):
    """Read and change a tenant's ticket settings."""

    async def get_settings(self, *, tenant_id: str) -> TenantSettings:
        """The tenant's ticket settings (the defaults when it never set any)."""
        async with self._db.transaction(tenant_id) as session:
            return await settings_store.get_settings(session, tenant_id=tenant_id)

    async def put_settings(self, *, tenant_id: str, settings: TenantSettings) -> None:
        """Replace the tenant's ticket settings (no event: tests and seeding)."""
        if Status.CLOSED not in settings.closed_statuses:
            raise InvalidArgument.field("closed_statuses", "must include CLOSED")
        async with self._db.transaction(tenant_id) as session:
            await settings_store.put_settings(session, tenant_id=tenant_id, settings=settings)

    async def update_settings(
        self,
        *,
        tenant_id: str,
        actor: str,
        etag: str,
        paths: Sequence[str],
        merge: Callable[[TenantSettings], TenantSettings],
        reply: IdempotentReply[TenantSettings, M],
    ) -> M:
        """Change the settings ``merge`` changes (the ``paths`` a caller named), checking
        the etag, and announce them with ``ticket.settings_changed``."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            # One writer of a tenant's settings at a time (the row may not exist yet).
            await ticket_store.lock(session, tenant_id=tenant_id, key="settings")
            current = await settings_store.get_settings(session, tenant_id=tenant_id)
            check_etag(
                etag,
                f"v{current.version}",
                lambda: EtagMismatch("the settings changed since they were read; read again"),
            )
            merged = merge(current)
            version = await settings_store.put_settings(
                session, tenant_id=tenant_id, settings=merged
            )
            after = replace(merged, version=version)
            await self._outbox.add(
                session, ev.settings_changed(tenant_id, after, paths=paths, actor=actor)
            )
            return await reply.answer(session, requests, tenant_id, after)
