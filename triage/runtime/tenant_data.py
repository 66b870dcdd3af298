"""Everything one service keeps of a tenant: export it row by row, delete it in batches.

Each service hands its schema's ``MetaData``; every table with a ``tenant_id`` column is the
tenant's (the runtime's outbox, inbox and requests tables included), so a table added later
is exported and deleted without anyone remembering to list it. A table of the schema that
the metadata does not know (the runtime's audit log) is found in the catalog and deleted
too, but never exported: its columns were not reviewed for secrets. Tables are walked children
first (foreign keys), so a batch never trips a constraint.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

import orjson
from sqlalchemy import CursorResult, MetaData, Table, delete, exists, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

#: Runtime plumbing: deleted with the tenant, never exported (it is not the tenant's data).
PLUMBING = frozenset({"outbox", "outbox_pending", "inbox", "requests"})


_UNLISTED = text(
    "SELECT table_name FROM information_schema.columns WHERE table_schema = :schema "
    "AND column_name = 'tenant_id' AND NOT (table_name = ANY(:known)) ORDER BY table_name"
)


def _plain(value: Any) -> Any:
    """A JSON-safe form of a column value."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


class TenantData:
    """A service's tenant tables, with the columns that must never leave it."""

    def __init__(
        self,
        metadata: MetaData,
        *,
        secret_columns: Mapping[str, Iterable[str]] | None = None,
        keep: Iterable[str] = (),
    ) -> None:
        """``secret_columns`` maps a table name to the columns left out of exports;
        ``keep`` names tables exported but never deleted here (their owner deletes them last)."""
        kept = set(keep)
        self._secret = {table: frozenset(cols) for table, cols in (secret_columns or {}).items()}
        everything = [t for t in reversed(metadata.sorted_tables) if "tenant_id" in t.c]
        #: The tables deleted here, children first.
        self.tables: list[Table] = [t for t in everything if t.name not in kept]
        self._exported = [t for t in everything if t.name not in PLUMBING]
        self._schema = metadata.schema
        self._known = [t.name for t in metadata.sorted_tables]
        pending = [t for t in metadata.sorted_tables if t.name == "outbox_pending"]
        self._pending: Table | None = pending[0] if pending else None

    @property
    def exported(self) -> list[Table]:
        """The tables an export walks (the tenant's data, not the runtime's plumbing)."""
        return list(self._exported)

    async def export(self, session: AsyncSession, tenant_id: str) -> AsyncIterator[tuple[str, str]]:
        """Every exported row of the tenant as (table, JSON object), secrets left out."""
        for table in sorted(self.exported, key=lambda t: t.name):
            hidden = self._secret.get(table.name, frozenset())
            columns = [c for c in table.c if c.name not in hidden]
            query = select(*columns).where(table.c.tenant_id == tenant_id)
            keys = list(table.primary_key.columns) or columns[:1]
            result = await session.stream(query.order_by(*keys).execution_options(yield_per=500))
            async for row in result:
                record = {str(c.name): _plain(v) for c, v in zip(columns, row, strict=True)}
                yield table.name, orjson.dumps(record).decode()

    async def _unlisted(self, session: AsyncSession) -> list[str]:
        """Tables of the schema with a ``tenant_id`` column that the metadata does not list
        (the runtime's own, such as the audit log): deleted too, never exported."""
        if self._schema is None:
            return []
        rows = await session.execute(_UNLISTED, {"schema": self._schema, "known": self._known})
        return [str(name) for name in rows.scalars()]

    async def _delete_unlisted(self, session: AsyncSession, tenant_id: str, limit: int) -> int:
        for name in await self._unlisted(session):
            # Identifiers come from the catalog, quoted; no primary key is known: by ctid.
            qualified = f'"{self._schema}"."{name}"'
            statement = text(
                f"DELETE FROM {qualified} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {qualified} "
                "WHERE tenant_id::text = :tenant LIMIT :limit))"
            )
            result = cast(
                CursorResult[Any],
                await session.execute(statement, {"tenant": tenant_id, "limit": limit}),
            )
            if result.rowcount:
                return int(result.rowcount)
        return 0

    async def _count_unlisted(self, session: AsyncSession, tenant_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in await self._unlisted(session):
            statement = text(
                f'SELECT count(*) FROM "{self._schema}"."{name}" WHERE tenant_id::text = :tenant'
            )
            found = int((await session.execute(statement, {"tenant": tenant_id})).scalar_one())
            if found:
                counts[name] = found
        return counts

    async def delete_batch(self, session: AsyncSession, tenant_id: str, limit: int) -> int:
        """Delete at most ``limit`` of the tenant's rows from the first table that still has
        some; 0 when nothing is left that may go now. An outbox row still waiting for the
        relay stays until it is published (the relay must not lose its queue's head)."""
        for table in self.tables:
            keys = list(table.primary_key.columns)
            chosen = select(*keys).where(table.c.tenant_id == tenant_id)
            if table.name == "outbox" and self._pending is not None:
                chosen = chosen.where(~exists().where(self._pending.c.id == table.c.id))
            chosen = chosen.limit(limit)
            if len(keys) == 1:
                statement = delete(table).where(keys[0].in_(chosen.scalar_subquery()))
            else:
                statement = delete(table).where(tuple_(*keys).in_(chosen))
            result = cast(CursorResult[Any], await session.execute(statement))
            deleted = result.rowcount or 0
            if deleted:
                return int(deleted)
        return await self._delete_unlisted(session, tenant_id, limit)

    async def remaining(self, session: AsyncSession, tenant_id: str) -> dict[str, int]:
        """How many rows of the tenant each table still holds (tables with none left out)."""
        counts: dict[str, int] = {}
        for table in self.tables:
            query = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
            found = int((await session.execute(query)).scalar_one())
            if found:
                counts[table.name] = found
        return counts | await self._count_unlisted(session, tenant_id)
