"""The sla schema's tenant tables, for offboarding: every table with a ``tenant_id``."""

from __future__ import annotations

from services.sla import models
from triage.runtime import TenantData

#: Exported and deleted by the runtime's offboarding; no column here holds a secret.
TENANT_DATA = TenantData(models.metadata)
