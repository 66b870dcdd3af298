"""Per-ticket clocks: read, locked, written in batches, and the breached ones listed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.clock import ClockState, TargetKind
from services.sla.domain.codec import clock_from_json, clock_to_json
from services.sla.domain.ticket import (
    BreachFilter,
    BreachView,
    ClockRecord,
    TicketView,
)
from services.sla.models import (
    SCHEMA,
    clocks,
    tickets,
    timers,
)
from services.sla.store.sql import (
    KEYS_FILTER,
    Rows,
    after_position,
    arrays,
    by_key,
    column_names,
    execute_arrays,
    unnest,
)
from services.sla.store.tickets import facts_of
from triage.runtime import fetch_together, select_list


def record_of(row: Any, view_calendar: Any) -> ClockRecord:
    """A clock row decoded under its ticket's business calendar."""
    return ClockRecord(
        ticket_id=row.ticket_id,
        clock=clock_from_json(row.data, view_calendar),
        fence=row.fence,
        breached_at=row.breached_at,
        breach_due_at=row.breach_due_at,
        met_at=row.met_at,
    )


async def get_clocks(
    session: AsyncSession, *, view: TicketView, lock: bool = False
) -> list[ClockRecord]:
    """The ticket's clocks, first response first."""
    query = select(clocks).where(
        clocks.c.tenant_id == view.tenant_id, clocks.c.ticket_id == view.facts.ticket_id
    )
    if lock:
        query = query.with_for_update()
    rows = (await session.execute(query.order_by(clocks.c.kind))).all()
    calendar = view.snapshot.business
    return [record_of(r, calendar) for r in rows]


# Batch writes: one statement whatever the row count, columns travelling as arrays that are
# unnest()ed. The texts are fixed, so they are parsed (and can be prepared) once, and each
# call is one round trip with no per-row work beyond building the arrays. They run on the
# session's connection (``raw_cursor``): same transaction, same bound tenants.
_CLOCK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "uuid"),
    ("ticket_id", "uuid"),
    ("kind", "text"),
    ("state", "text"),
    ("data", "jsonb"),
    ("due_at", "timestamptz"),
    ("breached_at", "timestamptz"),
    ("breach_due_at", "timestamptz"),
    ("met_at", "timestamptz"),
    ("fence", "bigint"),
)


_SAVE_CLOCKS = (
    f"INSERT INTO {SCHEMA}.clocks ({column_names(_CLOCK_COLUMNS)}) "
    f"SELECT * FROM {unnest(_CLOCK_COLUMNS)} "
    "ON CONFLICT (tenant_id, ticket_id, kind) DO UPDATE SET "
    + ", ".join(f"{n} = EXCLUDED.{n}" for n, _ in _CLOCK_COLUMNS[3:])
    + ", updated_at = now()"
)


async def save_clocks(session: AsyncSession, *, records: Sequence[tuple[str, ClockRecord]]) -> None:
    """Insert or update (tenant, clock) rows; the caller bumped each fence.

    One statement; of several records of one clock the last is stored.
    """
    if not records:
        return
    latest = {(tenant, r.ticket_id, r.kind): (tenant, r) for tenant, r in records}
    params = arrays(_CLOCK_COLUMNS)
    for tenant, record in latest.values():
        clock = record.clock
        params["tenant_id"].append(tenant)
        params["ticket_id"].append(record.ticket_id)
        params["kind"].append(clock.kind.value)
        params["state"].append(clock.state.value)
        params["data"].append(Jsonb(clock_to_json(clock)))
        params["due_at"].append(clock.due_at)
        params["breached_at"].append(record.breached_at)
        params["breach_due_at"].append(record.breach_due_at)
        params["met_at"].append(record.met_at)
        params["fence"].append(record.fence)
    await execute_arrays(session, _SAVE_CLOCKS, params)


async def delete_clock(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, kind: TargetKind
) -> None:
    """Remove a clock (its target no longer exists) and its timer."""
    for table in (clocks, timers):
        await session.execute(
            delete(table).where(
                table.c.tenant_id == tenant_id,
                table.c.ticket_id == ticket_id,
                table.c.kind == kind.value,
            )
        )


BATCH_CLOCKS = (
    f"SELECT {select_list(clocks)} FROM {SCHEMA}.clocks WHERE {KEYS_FILTER} "
    "ORDER BY tenant_id, ticket_id, kind FOR UPDATE"
)


def clocks_of(
    views: dict[tuple[str, str], TicketView], rows: Rows
) -> dict[tuple[str, str], list[ClockRecord]]:
    """The clocks of batch-read rows by (tenant, ticket), for the tickets in ``views``."""
    found: dict[tuple[str, str], list[ClockRecord]] = {k: [] for k in views}
    for r in rows:
        key = (r["tenant_id"], r["ticket_id"])
        if key in views:
            found[key].append(record_of(SimpleNamespace(**r), views[key].snapshot.business))
    return found


async def clocks_for_update(
    session: AsyncSession, *, views: dict[tuple[str, str], TicketView]
) -> dict[tuple[str, str], list[ClockRecord]]:
    """The clocks of ``views``' tickets (first response first), locked in key order."""
    if not views:
        return {}
    query = (BATCH_CLOCKS, by_key(sorted(views)))
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return clocks_of(views, rows)


async def clocks_by_ticket(
    session: AsyncSession, *, views: dict[tuple[str, str], TicketView]
) -> dict[tuple[str, str], list[ClockRecord]]:
    """The clocks of ``views``' tickets (first response first), one statement, no locks."""
    if not views:
        return {}
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, ticket_id in views:
        by_tenant.setdefault(tenant_id, []).append(ticket_id)
    # One tenant per call in practice: a plain IN binds and plans faster than a tuple IN.
    query = select(clocks).where(
        or_(
            *(
                and_(clocks.c.tenant_id == tenant_id, clocks.c.ticket_id.in_(ids))
                for tenant_id, ids in by_tenant.items()
            )
        )
    )
    found: dict[tuple[str, str], list[ClockRecord]] = {k: [] for k in views}
    for r in (await session.execute(query.order_by(clocks.c.ticket_id, clocks.c.kind))).all():
        key = (r.tenant_id, r.ticket_id)
        found[key].append(record_of(r, views[key].snapshot.business))
    return found


async def list_breaches(
    session: AsyncSession,
    *,
    tenant_id: str,
    filters: BreachFilter,
    after: tuple[datetime, str, str] | None,
    limit: int,
) -> list[BreachView]:
    """Breached targets, newest breach first, after the keyset position ``after``."""
    query = (
        select(clocks, tickets)
        .join(
            tickets,
            and_(
                tickets.c.tenant_id == clocks.c.tenant_id,
                tickets.c.ticket_id == clocks.c.ticket_id,
            ),
        )
        .where(clocks.c.tenant_id == tenant_id, clocks.c.breached_at.is_not(None))
    )
    if filters.since is not None:
        query = query.where(clocks.c.breached_at >= filters.since)
    if filters.kinds:
        query = query.where(clocks.c.kind.in_([k.value for k in filters.kinds]))
    if filters.priorities:
        query = query.where(tickets.c.priority.in_(filters.priorities))
    if filters.client_id:
        query = query.where(tickets.c.client_id == filters.client_id)
    if filters.queue:
        query = query.where(tickets.c.queue == filters.queue)
    if after is not None:
        breached, ticket_id, kind = after
        query = query.where(
            or_(
                clocks.c.breached_at < breached,
                and_(
                    clocks.c.breached_at == breached,
                    after_position(clocks.c.ticket_id, clocks.c.kind, (ticket_id, kind)),
                ),
            )
        )
    rows = await session.execute(
        query.order_by(clocks.c.breached_at.desc(), clocks.c.ticket_id, clocks.c.kind).limit(limit)
    )
    return [
        BreachView(
            ticket=facts_of(r),
            kind=TargetKind(r.kind),
            due_at=r.breach_due_at,
            breached_at=r.breached_at,
            met_at=r.met_at,
            cancelled_at=_cancelled_at(r.state, r.data),
        )
        for r in rows
    ]


def _cancelled_at(state: str, data: dict[str, Any]) -> datetime | None:
    """When a cancelled clock was cancelled (its completion instant in the stored JSON)."""
    if state != ClockState.CANCELLED.value or not data.get("completed_at"):
        return None
    return datetime.fromisoformat(data["completed_at"])
