"""A tenant of the registry, as stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Tenant:
    """One registered tenant (an MSP)."""

    id: str
    tenant_id: str
    display_name: str
    time_zone: str
    state: str
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def etag(self) -> str:
        """The weak etag of this version."""
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True)
class TenantChanges:
    """What an update changes: only the fields that are not None."""

    display_name: str | None = None
    time_zone: str | None = None
    #: ``active`` or ``suspended``.
    state: str | None = None
