"""The notify schema's tenant tables, for offboarding: every table with a ``tenant_id``."""

from __future__ import annotations

from services.notify import models
from triage.runtime import TenantData

#: Exported without channel credentials (sealed secrets, OAuth tokens) or lease tokens.
TENANT_DATA = TenantData(
    models.metadata,
    secret_columns={
        "channels": ("secrets",),
        "channel_state": ("tokens",),
        "deliveries": ("lease_token",),
    },
)
