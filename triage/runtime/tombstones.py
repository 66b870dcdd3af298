"""Deleted tenants stay deleted: a tombstone per service schema.

Offboarding deletes a tenant's rows one service at a time, but events of that tenant can
still be in a stream (a redelivery, or an event another service published before its own
deletion step). Each service records the tenants it deleted in its schema's
``deleted_tenants`` table before it deletes anything; the inbox claim, which every consumer's
batch passes through, drops the events of a tenant found there (:mod:`triage.runtime.inbox`).

The table names the tenant in ``deleted_tenant_id``, not ``tenant_id``: it is not the
tenant's data (no row security, never exported), and the deletion itself must not find it.
Every migration run creates it (:func:`triage.runtime.migrations.run_env`), so every schema
with an inbox has one.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, Table, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

TABLE = "deleted_tenants"


def tombstones_table(schema: str | None) -> Table:
    """The tombstone table of ``schema``, for queries (its own metadata: the service's
    metadata must not list it, or the initial migrations would create it twice)."""
    return Table(
        TABLE,
        MetaData(schema=schema),
        Column("deleted_tenant_id", UUID(as_uuid=False), primary_key=True),
        Column("deleted_at", DateTime(timezone=True), nullable=False),
    )


def deleted_tenants_ddl(schema: str) -> list[str]:
    """The idempotent statements that create ``schema``'s tombstone table."""
    return [
        f'CREATE TABLE IF NOT EXISTS "{schema}".{TABLE} ('
        "deleted_tenant_id uuid PRIMARY KEY, "
        "deleted_at timestamptz NOT NULL DEFAULT now())"
    ]


def create_deleted_tenants(connection: Connection, schema: str) -> None:
    """Create ``schema``'s tombstone table unless it exists (owner connection)."""
    for statement in deleted_tenants_ddl(schema):
        connection.execute(text(statement))


async def bury(session: AsyncSession, *, schema: str, tenant_id: str) -> None:
    """Record that ``tenant_id`` is deleted in ``schema`` (idempotent; owner session)."""
    await session.execute(
        text(
            f'INSERT INTO "{schema}".{TABLE} (deleted_tenant_id) VALUES (CAST(:tenant AS uuid)) '
            "ON CONFLICT DO NOTHING"
        ),
        {"tenant": tenant_id},
    )


async def settle_claims(session: AsyncSession, *, schema: str, timeout_seconds: float) -> None:
    """Wait until every batch that claimed events in ``schema``'s inbox before the tombstone
    was committed has ended, so the deletion that follows sees all its rows.

    A claim inserts into the inbox (ROW EXCLUSIVE); a SHARE lock waits for every holder and
    is released at once by the caller's commit. Later claims see the tombstone.
    """
    await session.execute(text(f"SET LOCAL lock_timeout = '{int(timeout_seconds * 1000)}ms'"))
    await session.execute(text(f'LOCK TABLE "{schema}".inbox IN SHARE MODE'))


async def is_buried(session: AsyncSession, *, schema: str, tenant_id: str) -> bool:
    """Whether ``schema`` deleted ``tenant_id``."""
    found = await session.execute(
        text(f'SELECT 1 FROM "{schema}".{TABLE} WHERE deleted_tenant_id = CAST(:tenant AS uuid)'),
        {"tenant": tenant_id},
    )
    return found.first() is not None


async def buried(session: AsyncSession, *, schema: str) -> list[str]:
    """Every tenant ``schema`` deleted (or is deleting)."""
    found = await session.execute(text(f'SELECT deleted_tenant_id::text FROM "{schema}".{TABLE}'))
    return [str(row[0]) for row in found]
