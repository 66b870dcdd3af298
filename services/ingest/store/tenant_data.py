"""The ingest schema's tenant tables, for offboarding: every table with a ``tenant_id``
except the registry's own row, which goes last (:mod:`services.ingest.store.deletions`)."""

from __future__ import annotations

from services.ingest import models
from triage.runtime import TenantData

#: Exported without integration secrets (webhook, previous, API and signing secrets).
TENANT_DATA = TenantData(
    models.metadata,
    secret_columns={
        "integrations": ("secret", "previous_secret", "api_secret", "signing_secret"),
    },
    keep=("tenants",),
)
