"""What every tickets use case shares: the database, the outbox, the clock, finding a
ticket and allocating numbers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.tickets import Cause, Ticket
from services.tickets.errors import TicketNotFound
from services.tickets.store import tickets as ticket_store
from triage.runtime import (
    Database,
    Outbox,
    bind_tenants,
)

R = TypeVar("R")
M = TypeVar("M", bound=Message)
Clock = Callable[[], datetime]
TicketRef = str | int


def utc_now() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person (user token) or a Triage service."""

    subject: str
    is_human: bool

    @property
    def cause(self) -> Cause:
        """The change cause of this actor's edits."""
        return Cause.HUMAN if self.is_human else Cause.SYSTEM


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of results and the position after its last row (None on the last page)."""

    items: list[R]
    next_position: Any


class ServiceBase:
    """State of the tickets service, shared by its use cases."""

    def __init__(self, db: Database, outbox: Outbox, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._outbox = outbox
        self._clock = clock

    async def _find(
        self, session: AsyncSession, tenant_id: str, ref: TicketRef, *, for_update: bool = False
    ) -> Ticket:
        if isinstance(ref, int):
            found = await ticket_store.get_ticket_by_number(
                session, tenant_id=tenant_id, number=ref, for_update=for_update
            )
        else:
            found = await ticket_store.get_ticket(
                session, tenant_id=tenant_id, ticket_id=ref, for_update=for_update
            )
        if found is None:
            raise TicketNotFound(f"ticket {ref} not found")
        return found

    async def _next_numbers(self, counts: Mapping[str, int]) -> dict[str, list[int]]:
        # As _next_number, for ``counts[tenant]`` tickets of each tenant at once
        # (consecutive numbers per tenant), in one short transaction.
        tenants = sorted(counts)
        async with self._db.autonomous_transaction(tenants[0]) as session:
            await bind_tenants(session, tenants)
            last = await ticket_store.next_numbers(session, {t: counts[t] for t in tenants})
        return {t: list(range(last[t] - counts[t] + 1, last[t] + 1)) for t in tenants}

    async def _next_number(self, tenant_id: str) -> int:
        # Its own short transaction: holding the tenant's counter row until a batch commits
        # serialized (and could deadlock) concurrent batches of one tenant. A rolled-back
        # batch leaves a gap in the numbers, as PSA ticket numbers may have.
        async with self._db.autonomous_transaction(tenant_id) as session:
            return await ticket_store.next_number(session, tenant_id=tenant_id)
