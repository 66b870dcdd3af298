"""The ingest schema's tenant tables, for offboarding: every table with a ``tenant_id``
except the registry's own row, which goes last (:mod:`services.ingest.store.deletions`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import models
from services.ingest.store.deleted_integrations import bury_integrations
from triage.runtime import TenantData


class IngestTenantData(TenantData):
    """ingest's tenant tables; each delete batch first records the tenant's remaining
    integrations in ``deleted_integrations`` (same transaction), so no integration row goes
    before its id is known to be a deleted tenant's (webhooks to it: 410, not 401)."""

    async def delete_batch(self, session: AsyncSession, tenant_id: str, limit: int) -> int:
        """Record the tenant's integrations as deleted, then delete a batch of its rows."""
        await bury_integrations(session, tenant_id)
        return await super().delete_batch(session, tenant_id, limit)


#: Exported without integration secrets (webhook, previous, API and signing secrets).
TENANT_DATA = IngestTenantData(
    models.metadata,
    secret_columns={
        "integrations": ("secret", "previous_secret", "api_secret", "signing_secret"),
    },
    keep=("tenants",),
)
