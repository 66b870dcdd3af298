"""What a ticket-event batch reads before it moves clocks, in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.policy import PolicySpec
from services.sla.domain.ticket import (
    ClockRecord,
    TicketView,
)
from services.sla.models import (
    SCHEMA,
)
from services.sla.store.clocks import BATCH_CLOCKS, clocks_of
from services.sla.store.policies import BATCH_POLICIES, policies_of
from services.sla.store.sql import by_key
from services.sla.store.tenants import BATCH_ZONES
from services.sla.store.tickets import BATCH_TICKETS, views_of
from triage.runtime import fetch_together


@dataclass(frozen=True, slots=True)
class BatchState:
    """What a ticket-event batch reads before it moves clocks, its rows locked."""

    views: dict[tuple[str, str], TicketView]
    clocks: dict[tuple[str, str], list[ClockRecord]]
    zones: dict[str, str]
    policies: dict[str, list[PolicySpec]]


async def lock_and_read_batch(
    session: AsyncSession, *, keys: Sequence[tuple[str, str]]
) -> BatchState:
    """:func:`tickets_for_update`, :func:`clocks_for_update`, :func:`tenant_zones` and
    :func:`tenant_policies` for a batch's (tenant, ticket) ``keys`` in one round trip (the
    zones and policies of every tenant of the batch, not only of its new tickets)."""
    if not keys:
        return BatchState({}, {}, {}, {})
    tenant_ids = sorted({t for t, _ in keys})
    ticket_rows, clock_rows, zone_rows, policy_rows = await fetch_together(
        session,
        schema=SCHEMA,
        queries=[
            (BATCH_TICKETS, by_key(keys)),
            (BATCH_CLOCKS, by_key(keys)),
            (BATCH_ZONES, {"tenant_ids": tenant_ids}),
            (BATCH_POLICIES, {"tenant_ids": tenant_ids}),
        ],
    )
    views = views_of(ticket_rows)
    return BatchState(
        views,
        clocks_of(views, clock_rows),
        {r["tenant_id"]: r["time_zone"] for r in zone_rows},
        policies_of(tenant_ids, policy_rows),
    )
