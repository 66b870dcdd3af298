"""A tenant's settings as ``tenant.changed`` moves them."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import zone_or_utc
from services.rules.store.settings import bump_version
from services.rules.store.settings import set_time_zone as store_time_zone

log = logging.getLogger(__name__)


class TenantSettings:
    """The ``tenant.changed`` use case."""

    async def set_time_zone(
        self, session: AsyncSession, *, tenant_id: str, time_zone: str, changed_at: datetime
    ) -> None:
        """Apply a tenant's new zone (from ``tenant.changed``); bumps the version if it
        moved."""
        zone = zone_or_utc(time_zone)
        if zone != time_zone:
            log.warning("ignoring unknown tenant zone", extra={"time_zone": time_zone})
            return
        if await store_time_zone(
            session, tenant_id=tenant_id, time_zone=zone, changed_at=changed_at
        ):
            await bump_version(session, tenant_id=tenant_id)
