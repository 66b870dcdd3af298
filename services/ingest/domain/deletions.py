"""A tenant's deletion across the mesh, as the registry records it (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Deletion order: along the flow of an alert (an event already on its way downstream is
#: deleted there later, instead of re-creating rows in a service already emptied); ingest,
#: the registry and the intake (stopped before the first step), last.
DELETION_ORDER = ("rules", "tickets", "sla", "notify", "ingest")


@dataclass(frozen=True, slots=True)
class TenantDeletion:
    """Where one tenant's deletion stands."""

    tenant_id: str
    #: The service now deleting; None once completed.
    current_service: str | None
    #: Rows each service reported deleted (services not done yet are absent).
    rows_deleted: dict[str, int]
    requested_at: datetime
    completed_at: datetime | None

    @property
    def completed(self) -> bool:
        """Whether every service is done and the tenant is gone."""
        return self.completed_at is not None


def next_service(order: tuple[str, ...], done: str) -> str | None:
    """The service after ``done`` in ``order``; None after the last."""
    at = order.index(done)
    return order[at + 1] if at + 1 < len(order) else None
