"""SQL helpers the store modules share: keyset positions and array-parameter batch
statements run on the session's connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.models import (
    SCHEMA,
)
from triage.runtime import raw_cursor


def after_position(first: Any, second: Any, position: tuple[Any, Any]) -> Any:
    """``(first, second) > position`` with the values typed as the columns."""
    return tuple_(first, second) > tuple_(
        literal(position[0], type_=first.type), literal(position[1], type_=second.type)
    )


def unnest(columns: Sequence[tuple[str, str]], prefix: str = "") -> str:
    """``unnest(%(a)b::uuid[], ...)`` over ``(name, type)`` columns, each one array param."""
    return "unnest(" + ", ".join(f"%({prefix}{n})b::{t}[]" for n, t in columns) + ")"


def column_names(columns: Sequence[tuple[str, str]]) -> str:
    """The column names of ``(name, type)`` columns, comma-separated."""
    return ", ".join(name for name, _ in columns)


def arrays(columns: Sequence[tuple[str, str]], prefix: str = "") -> dict[str, list[Any]]:
    """One empty array parameter per column (names prefixed with ``prefix``)."""
    return {f"{prefix}{name}": [] for name, _ in columns}


async def execute_arrays(
    session: AsyncSession, statement: str, params: dict[str, list[Any]]
) -> None:
    """Run an array-parameter batch statement on the session's connection."""
    async with raw_cursor(session, schema=SCHEMA, statement=statement) as cursor:
        await cursor.execute(statement, params)


KEYS_FILTER = (
    "(tenant_id, ticket_id) IN (SELECT * FROM unnest(%(tenants)b::uuid[], %(tickets)b::uuid[]))"
)


Rows = Sequence[dict[str, Any]]


def by_key(keys: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The array parameters of :data:`KEYS_FILTER` for (tenant, ticket) keys."""
    return {"tenants": [t for t, _ in keys], "tickets": [k for _, k in keys]}
