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
#: The tenant transactions' admission check (see :func:`admission_ddl`).
ADMIT = "admit_tenant"
#: A group commit's admission check, for schemas that write several tenants' rows in one
#: transaction (see :func:`group_admission_ddl`).
GROUP_ADMIT = "admit_tenants"
#: The SQLSTATE :data:`ADMIT` raises for a tombstoned tenant (a class PostgreSQL leaves free).
BURIED_SQLSTATE = "TRD01"
_UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


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
    """The idempotent statements that create ``schema``'s tombstone table and the admission
    function its tenant transactions call (:func:`admission_ddl`)."""
    return [
        f'CREATE TABLE IF NOT EXISTS "{schema}".{TABLE} ('
        "deleted_tenant_id uuid PRIMARY KEY, "
        "deleted_at timestamptz NOT NULL DEFAULT now())",
        admission_ddl(schema),
    ]


def _lock_key(schema: str, tenant_sql: str) -> str:
    # Two int4 keys: a key space of their own, apart from the single-bigint advisory locks.
    return f"hashtext('{schema}.{TABLE}'), hashtext(CAST({tenant_sql} AS uuid)::text)"


def admission_ddl(schema: str) -> str:
    """``schema``'s ``admit_tenant(tenant)``, called by every single-tenant transaction as
    it binds its tenant (:class:`triage.runtime.db.Database`): it takes the tenant's advisory
    lock shared, then refuses (SQLSTATE :data:`BURIED_SQLSTATE`) a tombstoned tenant.

    :func:`bury` takes the same lock exclusive around the tombstone's insert, so a writer
    either began before (the burial waits for its commit, and its rows are deleted with the
    rest) or checks after the tombstone committed: a VOLATILE PL/pgSQL function takes a new
    snapshot for each statement, so the check sees it even when the writer waited for the
    lock. A bound set of tenants, or none, is not checked (batch consumers: the inbox claim).
    """
    return (
        f'CREATE OR REPLACE FUNCTION "{schema}".{ADMIT}(tenant text) RETURNS boolean '
        "LANGUAGE plpgsql VOLATILE AS $fn$ BEGIN "
        f"IF tenant IS NULL OR tenant !~ '{_UUID_PATTERN}' THEN RETURN true; END IF; "
        f"PERFORM pg_advisory_xact_lock_shared({_lock_key(schema, 'tenant')}); "
        f'IF EXISTS (SELECT 1 FROM "{schema}".{TABLE} WHERE deleted_tenant_id = tenant::uuid) '
        f"THEN RAISE EXCEPTION 'the tenant % was deleted', tenant "
        f"USING ERRCODE = '{BURIED_SQLSTATE}'; END IF; "
        "RETURN true; END $fn$"
    )


def group_admission_ddl(schema: str) -> str:
    """``schema``'s ``admit_tenants(tenants uuid[])`` for a transaction that writes several
    tenants' rows (ingest's webhook group commit): it takes each tenant's lock shared, as
    :data:`ADMIT` does, in one order (two batches and a burial cannot deadlock), then
    answers the tombstoned ones instead of refusing the whole transaction, so the caller
    leaves out only their rows. The tombstones are read in a statement of their own, after
    the lock waits, for the reason :func:`admission_ddl` gives."""
    return (
        f'CREATE OR REPLACE FUNCTION "{schema}".{GROUP_ADMIT}(tenants uuid[]) RETURNS uuid[] '
        "LANGUAGE plpgsql VOLATILE AS $fn$ DECLARE t uuid; refused uuid[]; BEGIN "
        "FOR t IN SELECT DISTINCT u FROM unnest(tenants) AS u WHERE u IS NOT NULL ORDER BY u "
        f"LOOP PERFORM pg_advisory_xact_lock_shared({_lock_key(schema, 't')}); END LOOP; "
        "SELECT coalesce(array_agg(d.deleted_tenant_id), '{}') INTO refused "
        f'FROM "{schema}".{TABLE} d WHERE d.deleted_tenant_id = ANY(tenants); '
        "RETURN refused; END $fn$"
    )


def create_deleted_tenants(connection: Connection, schema: str) -> None:
    """Create ``schema``'s tombstone table unless it exists (owner connection)."""
    for statement in deleted_tenants_ddl(schema):
        connection.execute(text(statement))


async def bury(
    session: AsyncSession, *, schema: str, tenant_id: str, timeout_seconds: float = 30.0
) -> None:
    """Record that ``tenant_id`` is deleted in ``schema`` (idempotent; owner session), once
    the tenant's transactions under way have ended (bounded by ``timeout_seconds``): those
    that begin later are refused (:func:`admission_ddl`)."""
    await session.execute(text(f"SET LOCAL lock_timeout = '{int(timeout_seconds * 1000)}ms'"))
    await session.execute(
        text(f"SELECT pg_advisory_xact_lock({_lock_key(schema, ':tenant')})"),
        {"tenant": tenant_id},
    )
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
