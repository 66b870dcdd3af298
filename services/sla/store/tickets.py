"""The ticket projection (facts and the snapshot its clocks started under), one by one
and in batches."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.calendar_spec import (
    CalendarSpec,
)
from services.sla.domain.policy import PolicySpec, Snapshot
from services.sla.domain.ticket import (
    TicketFacts,
    TicketView,
)
from services.sla.models import (
    SCHEMA,
    tickets,
)
from services.sla.store.sql import (
    KEYS_FILTER,
    Rows,
    arrays,
    by_key,
    column_names,
    execute_arrays,
    unnest,
)
from triage.runtime import fetch_together, raw_cursor, select_list


def facts_of(row: Any) -> TicketFacts:
    """The ticket facts of a projection row."""
    return TicketFacts(
        ticket_id=row.ticket_id,
        number=row.number,
        title=row.title,
        priority=row.priority,
        status=row.status,
        client_id=row.client_id,
        client_name=row.client_name,
        queue=row.queue,
        assignee=row.assignee,
        reopen_count=row.reopen_count,
        opened_at=row.opened_at,
        updated_at=row.ticket_updated_at,
    )


def _facts_values(facts: TicketFacts) -> dict[str, Any]:
    return {
        "number": facts.number,
        "title": facts.title,
        "priority": facts.priority,
        "status": facts.status,
        "client_id": facts.client_id,
        "client_name": facts.client_name,
        "queue": facts.queue,
        "assignee": facts.assignee,
        "reopen_count": facts.reopen_count,
        "opened_at": facts.opened_at,
        "ticket_updated_at": facts.updated_at,
    }


def view_of(row: Any) -> TicketView:
    """The ticket projection of a row, with its snapshot."""
    return TicketView(
        tenant_id=row.tenant_id,
        facts=facts_of(row),
        closed=row.closed,
        snapshot=Snapshot(
            PolicySpec.from_json(row.policy_snapshot), CalendarSpec.from_json(row.calendar_snapshot)
        ),
        first_response_at=row.first_response_at,
    )


async def get_ticket(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, lock: bool = False
) -> TicketView | None:
    """The ticket projection (``lock``: FOR UPDATE, the per-ticket lock of every change)."""
    query = select(tickets).where(
        tickets.c.tenant_id == tenant_id, tickets.c.ticket_id == ticket_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    return None if row is None else view_of(row)


async def get_ticket_by_number(
    session: AsyncSession, *, tenant_id: str, number: int
) -> TicketView | None:
    """The ticket projection by the ticket's per-tenant number (``#1042``)."""
    row = (
        await session.execute(
            select(tickets).where(tickets.c.tenant_id == tenant_id, tickets.c.number == number)
        )
    ).first()
    return None if row is None else view_of(row)


async def insert_ticket(session: AsyncSession, *, view: TicketView) -> bool:
    """Insert the projection with its snapshot; False if a concurrent handler was first."""
    snapshot = view.snapshot
    result = await session.execute(
        insert(tickets)
        .values(
            tenant_id=view.tenant_id,
            ticket_id=view.facts.ticket_id,
            closed=view.closed,
            first_response_at=view.first_response_at,
            policy_id=snapshot.policy.id,
            policy_version=snapshot.policy.version,
            calendar_id=snapshot.calendar.id,
            calendar_version=snapshot.calendar.version,
            policy_snapshot=snapshot.policy.to_json(),
            calendar_snapshot=snapshot.calendar.to_json(),
            **_facts_values(view.facts),
        )
        .on_conflict_do_nothing()
        .returning(tickets.c.ticket_id)
    )
    return result.first() is not None


async def save_ticket(session: AsyncSession, *, view: TicketView) -> None:
    """Store the projection's mutable fields (the snapshot never changes)."""
    await session.execute(
        update(tickets)
        .where(tickets.c.tenant_id == view.tenant_id, tickets.c.ticket_id == view.facts.ticket_id)
        .values(
            closed=view.closed,
            first_response_at=view.first_response_at,
            **_facts_values(view.facts),
        )
    )


_TICKET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "uuid"),
    ("ticket_id", "uuid"),
    ("policy_id", "text"),
    ("policy_version", "bigint"),
    ("calendar_id", "text"),
    ("calendar_version", "bigint"),
    ("policy_snapshot", "jsonb"),
    ("calendar_snapshot", "jsonb"),
)


# What save_tickets writes: everything but the key and the snapshot, which never changes.
_SAVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("closed", "boolean"),
    ("first_response_at", "timestamptz"),
    ("number", "bigint"),
    ("title", "text"),
    ("priority", "smallint"),
    ("status", "smallint"),
    ("client_id", "text"),
    ("client_name", "text"),
    ("queue", "text"),
    ("assignee", "text"),
    ("reopen_count", "integer"),
    ("opened_at", "timestamptz"),
    ("ticket_updated_at", "timestamptz"),
)


_INSERT_TICKETS = (
    f"INSERT INTO {SCHEMA}.tickets ({column_names(_TICKET_COLUMNS + _SAVED_COLUMNS)}) "
    f"SELECT * FROM {unnest(_TICKET_COLUMNS + _SAVED_COLUMNS)} "
    "ON CONFLICT DO NOTHING RETURNING tenant_id::text, ticket_id::text"
)


_SAVE_TICKETS = (
    f"UPDATE {SCHEMA}.tickets AS t SET "
    + ", ".join(f"{n} = v.{n}" for n, _ in _SAVED_COLUMNS)
    + f" FROM {unnest(_TICKET_COLUMNS[:2] + _SAVED_COLUMNS)}"
    f" AS v({column_names(_TICKET_COLUMNS[:2] + _SAVED_COLUMNS)})"
    " WHERE t.tenant_id = v.tenant_id AND t.ticket_id = v.ticket_id"
)


BATCH_TICKETS = (
    f"SELECT {select_list(tickets)} FROM {SCHEMA}.tickets WHERE {KEYS_FILTER} "
    "ORDER BY tenant_id, ticket_id FOR UPDATE"
)


def views_of(rows: Rows) -> dict[tuple[str, str], TicketView]:
    """Ticket projections of batch-read rows by (tenant, ticket)."""
    return {(r["tenant_id"], r["ticket_id"]): view_of(SimpleNamespace(**r)) for r in rows}


async def tickets_for_update(
    session: AsyncSession, *, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], TicketView]:
    """Ticket projections by (tenant, ticket), locked in (tenant, ticket) order."""
    if not keys:
        return {}
    query = (BATCH_TICKETS, by_key(keys))
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return views_of(rows)


async def tickets_by_id(
    session: AsyncSession, *, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], TicketView]:
    """Ticket projections by (tenant, ticket) across tenants."""
    if not keys:
        return {}
    rows = await session.execute(
        select(tickets).where(tuple_(tickets.c.tenant_id, tickets.c.ticket_id).in_(list(keys)))
    )
    return {(r.tenant_id, r.ticket_id): view_of(r) for r in rows}


async def tickets_of_tenant(
    session: AsyncSession, *, tenant_id: str, ticket_ids: Sequence[str]
) -> dict[tuple[str, str], TicketView]:
    """The tenant's ticket projections among ``ticket_ids`` (no locks), by (tenant, ticket)."""
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(tickets).where(
            tickets.c.tenant_id == tenant_id, tickets.c.ticket_id.in_(list(ticket_ids))
        )
    )
    return {(r.tenant_id, r.ticket_id): view_of(r) for r in rows}


def _add_saved(params: dict[str, list[Any]], view: TicketView) -> None:
    facts = view.facts
    params["tenant_id"].append(view.tenant_id)
    params["ticket_id"].append(facts.ticket_id)
    params["closed"].append(view.closed)
    params["first_response_at"].append(view.first_response_at)
    params["number"].append(facts.number)
    params["title"].append(facts.title)
    params["priority"].append(facts.priority)
    params["status"].append(facts.status)
    params["client_id"].append(facts.client_id)
    params["client_name"].append(facts.client_name)
    params["queue"].append(facts.queue)
    params["assignee"].append(facts.assignee)
    params["reopen_count"].append(facts.reopen_count)
    params["opened_at"].append(facts.opened_at)
    params["ticket_updated_at"].append(facts.updated_at)


async def insert_tickets(
    session: AsyncSession, *, views: Sequence[TicketView]
) -> set[tuple[str, str]]:
    """Insert projections with their snapshots; the (tenant, ticket) keys actually inserted.

    One statement, whatever the number of views.
    """
    if not views:
        return set()
    params = arrays(_TICKET_COLUMNS + _SAVED_COLUMNS)
    for view in views:
        _add_saved(params, view)
        snapshot = view.snapshot
        params["policy_id"].append(snapshot.policy.id)
        params["policy_version"].append(snapshot.policy.version)
        params["calendar_id"].append(snapshot.calendar.id)
        params["calendar_version"].append(snapshot.calendar.version)
        params["policy_snapshot"].append(Jsonb(snapshot.policy.to_json()))
        params["calendar_snapshot"].append(Jsonb(snapshot.calendar.to_json()))
    async with raw_cursor(session, schema=SCHEMA, statement=_INSERT_TICKETS) as cursor:
        await cursor.execute(_INSERT_TICKETS, params)
        return {(tenant, ticket) for tenant, ticket in await cursor.fetchall()}


async def save_tickets(session: AsyncSession, *, views: Sequence[TicketView]) -> None:
    """:func:`save_ticket` for many projections, in one statement (of several views of
    one ticket the last is stored)."""
    if not views:
        return
    latest = {(v.tenant_id, v.facts.ticket_id): v for v in views}
    params = arrays(_TICKET_COLUMNS[:2] + _SAVED_COLUMNS)
    for view in latest.values():
        _add_saved(params, view)
    await execute_arrays(session, _SAVE_TICKETS, params)
