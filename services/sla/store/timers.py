"""Durable timers: each clock's next threshold instant with its fence; claimed across
tenants (run these in a system transaction) with SKIP LOCKED."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.clock import TargetKind
from services.sla.domain.ticket import (
    ClockRecord,
)
from services.sla.models import (
    SCHEMA,
    clocks,
    timers,
)
from services.sla.store.sql import arrays, column_names, execute_arrays, unnest

_TIMER_KEY: tuple[tuple[str, str], ...] = (
    ("tenant_id", "uuid"),
    ("ticket_id", "uuid"),
    ("kind", "text"),
)

_TIMER_COLUMNS = (
    *_TIMER_KEY,
    ("percent", "smallint"),
    ("due_at", "timestamptz"),
    ("fence", "bigint"),
)


# Drops and upserts in one statement. The data-modifying CTE always runs to completion; the
# caller passes disjoint keys, so the DELETE and the INSERT never touch the same row.
_SET_TIMERS = (
    f"WITH dropped AS (DELETE FROM {SCHEMA}.timers AS t "
    f"USING {unnest(_TIMER_KEY, 'drop_')} AS d({column_names(_TIMER_KEY)}) "
    "WHERE t.tenant_id = d.tenant_id AND t.ticket_id = d.ticket_id AND t.kind = d.kind) "
    f"INSERT INTO {SCHEMA}.timers ({column_names(_TIMER_COLUMNS)}) "
    f"SELECT * FROM {unnest(_TIMER_COLUMNS)} "
    "ON CONFLICT (tenant_id, ticket_id, kind) DO UPDATE SET "
    "percent = EXCLUDED.percent, due_at = EXCLUDED.due_at, fence = EXCLUDED.fence"
)


async def set_timers(session: AsyncSession, *, records: Sequence[tuple[str, ClockRecord]]) -> None:
    """Point each clock's timer at its next threshold, or drop it when there is none.

    The timer carries the clock's fence: a worker holding an older fence acts on nothing.
    One statement. As if every drop ran before every upsert: a clock with any record that
    has a next threshold keeps a timer, set from the last such record.
    """
    upserts: dict[tuple[str, str, str], tuple[str, ClockRecord, tuple[int, datetime]]] = {}
    drops: dict[tuple[str, str, str], None] = {}
    for tenant, record in records:
        key = (tenant, record.ticket_id, record.kind.value)
        nxt = record.clock.next_threshold()
        if nxt is None:
            drops[key] = None
        else:
            upserts[key] = (tenant, record, nxt)
    if not upserts and not drops:
        return
    params = {**arrays(_TIMER_COLUMNS), **arrays(_TIMER_KEY, "drop_")}
    for tenant, ticket_id, kind in drops:
        if (tenant, ticket_id, kind) not in upserts:
            params["drop_tenant_id"].append(tenant)
            params["drop_ticket_id"].append(ticket_id)
            params["drop_kind"].append(kind)
    for (tenant, ticket_id, kind), (_, record, (percent, due_at)) in upserts.items():
        params["tenant_id"].append(tenant)
        params["ticket_id"].append(ticket_id)
        params["kind"].append(kind)
        params["percent"].append(percent)
        params["due_at"].append(due_at)
        params["fence"].append(record.fence)
    await execute_arrays(session, _SET_TIMERS, params)


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A claimed timer with its clock row, locked for this transaction."""

    tenant_id: str
    ticket_id: str
    kind: TargetKind
    percent: int
    due_at: datetime
    fence: int
    clock_fence: int
    clock_data: dict[str, Any]
    breached_at: datetime | None
    breach_due_at: datetime | None
    met_at: datetime | None


def _not_paused(paused: Collection[str]) -> ColumnElement[bool]:
    return timers.c.tenant_id.not_in(sorted(paused)) if paused else true()


async def claim_due_timers(
    session: AsyncSession, *, now: datetime, limit: int, paused: Collection[str] = ()
) -> list[DueTimer]:
    """Lock up to ``limit`` due timers and their clocks, skipping rows another worker holds
    and the timers of ``paused`` (suspended) tenants, which wait until they are resumed.

    Timer and clock are locked in one statement with SKIP LOCKED, so a consumer holding the
    clock (to change it) is skipped rather than waited for; it rewrites the timer anyway.
    """
    rows = await session.execute(
        select(
            timers.c.tenant_id,
            timers.c.ticket_id,
            timers.c.kind,
            timers.c.percent,
            timers.c.due_at,
            timers.c.fence,
            clocks.c.fence.label("clock_fence"),
            clocks.c.data,
            clocks.c.breached_at,
            clocks.c.breach_due_at,
            clocks.c.met_at,
        )
        .join(
            clocks,
            and_(
                clocks.c.tenant_id == timers.c.tenant_id,
                clocks.c.ticket_id == timers.c.ticket_id,
                clocks.c.kind == timers.c.kind,
            ),
        )
        .where(timers.c.due_at <= now, _not_paused(paused))
        .order_by(timers.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        DueTimer(
            tenant_id=r.tenant_id,
            ticket_id=r.ticket_id,
            kind=TargetKind(r.kind),
            percent=r.percent,
            due_at=r.due_at,
            fence=r.fence,
            clock_fence=r.clock_fence,
            clock_data=r.data,
            breached_at=r.breached_at,
            breach_due_at=r.breach_due_at,
            met_at=r.met_at,
        )
        for r in rows
    ]


async def earliest_timer(session: AsyncSession, paused: Collection[str] = ()) -> datetime | None:
    """The earliest due instant of any timer (of a tenant not ``paused``)."""
    found: datetime | None = (
        await session.execute(select(func.min(timers.c.due_at)).where(_not_paused(paused)))
    ).scalar()
    return found


async def delete_timer_if(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, kind: TargetKind, fence: int
) -> None:
    """Drop a stale timer whose fence no longer matches its clock."""
    await session.execute(
        delete(timers).where(
            timers.c.tenant_id == tenant_id,
            timers.c.ticket_id == ticket_id,
            timers.c.kind == kind.value,
            timers.c.fence == fence,
        )
    )
