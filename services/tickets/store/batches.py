"""Batch forms for the alert consumer: statements built once, one round trip each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Text,
    any_,
    bindparam,
    delete,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain.tickets import TenantSettings, Ticket
from services.tickets.store.alert_state import Tombstone
from services.tickets.store.settings import (
    get_settings_many,
    keep_settings,
    settings_query,
    unread_settings,
)
from services.tickets.store.tickets import (
    _TICKET_ENUMS,
    _ticket,
    _ticket_from,
)
from triage.runtime import fetch_together, raw_cursor, select_list


async def insert_tickets(session: AsyncSession, tickets: Sequence[Ticket]) -> int:
    """Insert ``tickets`` in one statement; how many were inserted (not taken by an open
    ticket, nor by one earlier in ``tickets``)."""
    if not tickets:
        return 0
    async with raw_cursor(session, schema=m.SCHEMA, statement=_INSERT_TICKETS) as cursor:
        await cursor.execute(_INSERT_TICKETS, _batch_params(tickets))
        return len(await cursor.fetchall())


_LOCK_MANY = (
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%(keys)b::text[]) AS k"
)


# Every column of a ticket, as its own array. A text[] column cannot travel as a text[][]
# (unnest would flatten it, and the rows' arrays differ in length), so each row's array
# travels as its text form and is cast back.
_TICKET_ARRAY_COLUMNS = ("linked_series_keys", "notification_channel_ids")
_TICKET_TYPES: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("tenant_id", "uuid"),
    ("number", "bigint"),
    ("title", "text"),
    ("description", "text"),
    ("client_id", "text"),
    ("client_name", "text"),
    ("site_id", "text"),
    ("site_name", "text"),
    ("device_id", "text"),
    ("device_name", "text"),
    ("priority", "smallint"),
    ("status", "smallint"),
    ("queue", "text"),
    ("assignee", "text"),
    ("source", "smallint"),
    ("severity", "smallint"),
    ("condition", "text"),
    ("dedup_key", "text"),
    ("occurrence_count", "bigint"),
    ("first_occurrence_at", "timestamptz"),
    ("last_occurrence_at", "timestamptz"),
    ("linked_series_keys", "text"),
    ("rule_id", "text"),
    ("close_on_reset", "boolean"),
    ("reset_in_rmm_on_close", "boolean"),
    ("notification_channel_ids", "text"),
    ("human_touched", "boolean"),
    ("close_reason", "smallint"),
    ("reopen_count", "integer"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("version", "bigint"),
    ("occurrence_comment_at", "timestamptz"),
    ("uncommented_occurrences", "integer"),
    ("flapping_since", "timestamptz"),
)
_TICKET_ROWS = (
    "unnest("
    + ", ".join(f"%({name})b::{kind}[]" for name, kind in _TICKET_TYPES)
    + ") AS v("
    + ", ".join(name for name, _ in _TICKET_TYPES)
    + ")"
)


def _from_v(name: str) -> str:
    return f"v.{name}::text[]" if name in _TICKET_ARRAY_COLUMNS else f"v.{name}"


_INSERT_TICKETS = (
    f"INSERT INTO {m.SCHEMA}.tickets ("
    + ", ".join(name for name, _ in _TICKET_TYPES)
    + ") SELECT "
    + ", ".join(_from_v(name) for name, _ in _TICKET_TYPES)
    + f" FROM {_TICKET_ROWS}"
    " ON CONFLICT (tenant_id, dedup_key) WHERE closed_at IS NULL AND dedup_key IS NOT NULL"
    " DO NOTHING RETURNING id"
)
_SAVE_TICKETS = (
    f"UPDATE {m.SCHEMA}.tickets AS t SET "
    + ", ".join(
        f"{name} = {_from_v(name)}" for name, _ in _TICKET_TYPES if name not in ("id", "tenant_id")
    )
    + f" FROM {_TICKET_ROWS} WHERE t.tenant_id = v.tenant_id AND t.id = v.id"
)
# The lateral subquery is open_ticket_for_series's, run once per pair (in pair order, so
# concurrent batches take the row locks in one order).
_OPEN_FOR_SERIES = text(
    "SELECT p.series_key AS for_series, "
    + ", ".join(f"t.{c.name}" for c in m.tickets.c)
    + " FROM unnest(CAST(:tenants AS uuid[]), CAST(:keys AS text[])) AS p(tenant_id, series_key)"
    f" CROSS JOIN LATERAL (SELECT * FROM {m.SCHEMA}.tickets AS o"
    " WHERE o.tenant_id = p.tenant_id AND o.linked_series_keys @> ARRAY[p.series_key]"
    " AND o.closed_at IS NULL ORDER BY o.created_at DESC LIMIT 1 FOR UPDATE) AS t"
).columns(sql_column("for_series", Text), *m.tickets.c)


def _array_text(values: Sequence[str]) -> str:
    """``values`` as a PostgreSQL array literal (every element quoted and escaped)."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


def _batch_params(tickets: Sequence[Ticket]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {name: [] for name, _ in _TICKET_TYPES}
    for ticket in tickets:
        for name, _ in _TICKET_TYPES:
            params[name].append(getattr(ticket, name))
    for name in _TICKET_ENUMS:
        params[name] = [int(v) for v in params[name]]
    for name in _TICKET_ARRAY_COLUMNS:
        params[name] = [_array_text(v) for v in params[name]]
    return params


_TOMBSTONES_OF_SERIES = (
    "SELECT tenant_id::text AS tenant_id, series_key, reset_at, reset_sequence "
    f"FROM {m.SCHEMA}.reset_tombstones "
    "WHERE tenant_id = ANY(%(tenants)b::uuid[]) AND series_key = ANY(%(keys)b::text[])"
)
_OPEN_TICKETS_OF_KEYS = (
    f"SELECT {select_list(m.tickets)} FROM {m.SCHEMA}.tickets"
    " WHERE tenant_id = ANY(%(tenants)b::uuid[])"
    " AND dedup_key = ANY(%(keys)b::text[]) AND closed_at IS NULL"
    " ORDER BY dedup_key FOR UPDATE"
)
Query = tuple[str, Mapping[str, Any]]


def _lock_query(keys: Sequence[tuple[str, str]]) -> Query:
    return _LOCK_MANY, {"keys": [f"tickets:{tenant_id}:{key}" for tenant_id, key in keys]}


def _pairs_params(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    # Keys and series keys begin with their tenant id, so tenants x keys selects the pairs.
    pairs = list(pairs)
    return {"tenants": sorted({t for t, _ in pairs}), "keys": sorted({k for _, k in pairs})}


def _tombstones_of(
    series: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], Tombstone]:
    wanted = set(series)
    return {
        (row["tenant_id"], row["series_key"]): Tombstone(row["reset_at"], row["reset_sequence"])
        for row in rows
        if (row["tenant_id"], row["series_key"]) in wanted
    }


def _open_tickets_of(
    keys: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Ticket]:
    wanted = set(keys)
    found: dict[str, Ticket] = {}
    for ticket in (_ticket_from(dict(row)) for row in rows):
        if ticket.dedup_key is not None and (ticket.tenant_id, ticket.dedup_key) in wanted:
            found[ticket.dedup_key] = ticket
    return found


async def lock_many(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> None:
    """:func:`lock` for each ``(tenant_id, key)``, taken one after another in the given order."""
    if keys:
        await fetch_together(session, schema=m.SCHEMA, queries=[_lock_query(keys)])


async def open_tickets_for_keys(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[str, Ticket]:
    """The open tickets holding any ``(tenant_id, dedup_key)``, locked in key order, by key."""
    if not keys:
        return {}
    query = (_OPEN_TICKETS_OF_KEYS, _pairs_params(keys))
    (rows,) = await fetch_together(session, schema=m.SCHEMA, queries=[query])
    return _open_tickets_of(keys, rows)


async def tombstones_for(
    session: AsyncSession, series: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Tombstone]:
    """The latest resets of each ``(tenant_id, series_key)`` that has one."""
    if not series:
        return {}
    query = (_TOMBSTONES_OF_SERIES, _pairs_params(series))
    (rows,) = await fetch_together(session, schema=m.SCHEMA, queries=[query])
    return _tombstones_of(series, rows)


@dataclass(frozen=True, slots=True)
class BatchState:
    """What an alert batch reads before it decides, with its keys locked."""

    settings: dict[str, TenantSettings]
    tombstones: dict[tuple[str, str], Tombstone]
    open_tickets: dict[str, Ticket]


async def lock_and_read_batch(
    session: AsyncSession, keys: Sequence[tuple[str, str]], series: Sequence[tuple[str, str]]
) -> BatchState:
    """:func:`lock_many` of ``keys``, then :func:`get_settings_many` of their tenants,
    :func:`tombstones_for` of ``series`` and :func:`open_tickets_for_keys` of ``keys``:
    the same locks and answers in one round trip (the reads run after the locks)."""
    tenants = sorted({t for t, _ in keys})
    # Settings the transaction read already (the incident step reads them) are not read
    # again.
    unread = unread_settings(session, tenants)
    queries = [
        _lock_query(keys),
        (_TOMBSTONES_OF_SERIES, _pairs_params(series)),
        (_OPEN_TICKETS_OF_KEYS, _pairs_params(keys)),
    ]
    if unread:
        queries.append(settings_query(unread))
    _, stone_rows, ticket_rows, *setting_rows = await fetch_together(
        session, schema=m.SCHEMA, queries=queries
    )
    if unread:
        keep_settings(session, unread, setting_rows[0])
    return BatchState(
        await get_settings_many(session, tenants),
        _tombstones_of(series, stone_rows),
        _open_tickets_of(keys, ticket_rows),
    )


async def save_tickets(session: AsyncSession, tickets: Sequence[Ticket]) -> None:
    """:func:`save_ticket` for each of ``tickets``, in one statement (of several versions
    of one ticket the last is written)."""
    if not tickets:
        return
    latest = list({(t.tenant_id, t.id): t for t in tickets}.values())
    async with raw_cursor(session, schema=m.SCHEMA, statement=_SAVE_TICKETS) as cursor:
        await cursor.execute(_SAVE_TICKETS, _batch_params(latest))


async def open_tickets_for_series_many(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Ticket]:
    """:func:`open_ticket_for_series` for each ``(tenant_id, series_key)`` (tenants bound),
    in one query: the newest open ticket linked to each series that has one, locked."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    rows = await session.execute(
        _OPEN_FOR_SERIES,
        {"tenants": [t for t, _ in wanted], "keys": [k for _, k in wanted]},
    )
    return {(str(r.tenant_id), r.for_series): _ticket(r) for r in rows.all()}


_CLEAR_TRIGGERS_MANY = delete(m.trigger_log).where(
    m.trigger_log.c.tenant_id == any_(bindparam("tenants", type_=ARRAY(UUID(as_uuid=False)))),
    m.trigger_log.c.dedup_key == any_(bindparam("keys", type_=ARRAY(Text))),
)


async def clear_triggers_many(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> None:
    """:func:`clear_triggers` (all of them) for each ``(tenant_id, dedup_key)``, at once.

    Dedup keys begin with their tenant id, so tenants x keys selects exactly these pairs.
    """
    if keys:
        await session.execute(
            _CLEAR_TRIGGERS_MANY,
            {"tenants": sorted({t for t, _ in keys}), "keys": sorted({k for _, k in keys})},
        )
