"""The audit log table every service keeps in its own schema: DDL, insert, list, purge."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.db import Database

TABLE = "audit_log"
PURGE_BATCH = 5000
# The app role may add entries and read its tenant's; it never changes or deletes them.
_COLUMNS = (
    "id",
    "tenant_id",
    "actor",
    "rpc",
    "target_id",
    "request_id",
    "code",
    "request_sha256",
    "at",
)
_INSERT = f"INSERT INTO {{schema}}.audit_log ({', '.join(_COLUMNS)}) VALUES ({{values}})"
# A tenant's entry, unless the tenant was deleted in this schema (its tombstone).
_INSERT_LIVE = (
    f"INSERT INTO {{schema}}.audit_log ({', '.join(_COLUMNS)}) SELECT {{values}} "
    "WHERE NOT EXISTS (SELECT 1 FROM {schema}.deleted_tenants "
    "WHERE deleted_tenant_id = %(tenant_id)s::uuid) RETURNING id"
)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One recorded call."""

    id: str
    tenant_id: str | None
    actor: str
    rpc: str
    target_id: str
    request_id: str
    code: str
    request_sha256: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a listing keeps: every set field must match; ``before`` is the keyset position
    (time, id) after which the page starts (newest first)."""

    tenant_id: str | None
    since: datetime | None = None
    actor: str = ""
    target_id: str = ""
    rpc: str = ""
    before: tuple[datetime, str] | None = None


def audit_log_ddl(schema: str) -> list[str]:
    """Statements that create ``schema.audit_log`` with row-level security (idempotent).

    A tenant transaction sees and adds only its tenant's entries; entries of calls that
    named no tenant (an administrator's) have no tenant and only the owner sees them.
    """
    table = f"{schema}.{TABLE}"
    tenant = (
        "ANY (string_to_array(NULLIF(current_setting('triage.tenant_id', true), ''), ',')::uuid[])"
    )
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "id uuid PRIMARY KEY, tenant_id uuid, actor text NOT NULL, rpc text NOT NULL, "
        "target_id text NOT NULL DEFAULT '', request_id text NOT NULL DEFAULT '', "
        "code text NOT NULL, request_sha256 text NOT NULL, at timestamptz NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS audit_log_tenant_at ON {table} (tenant_id, at DESC, id DESC)",
        f"CREATE INDEX IF NOT EXISTS audit_log_actor ON {table} (tenant_id, actor, at DESC)",
        f"CREATE INDEX IF NOT EXISTS audit_log_target ON {table} (tenant_id, target_id, at DESC)",
        f"CREATE INDEX IF NOT EXISTS audit_log_at ON {table} (at)",
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS tenant_read ON {table}",
        f"DROP POLICY IF EXISTS tenant_append ON {table}",
        f"CREATE POLICY tenant_read ON {table} FOR SELECT USING (tenant_id = {tenant})",
        f"CREATE POLICY tenant_append ON {table} FOR INSERT WITH CHECK (tenant_id = {tenant})",
    ]


def _params(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "actor": row.actor,
        "rpc": row.rpc,
        "target_id": row.target_id,
        "request_id": row.request_id,
        "code": row.code,
        "request_sha256": row.request_sha256,
        "at": row.at,
    }


async def insert_entry(db: Database, row: AuditRow) -> None:
    """Store ``row``: for a tenant, BEGIN, the binding, the insert and COMMIT in one round
    trip; a call without a tenant is stored by the owner."""
    if row.tenant_id is not None:
        values = ", ".join(f"%({c})s" for c in _COLUMNS)
        async with db.pipelined_transaction([row.tenant_id]) as tx:
            stored = await tx.execute(
                _INSERT_LIVE.format(schema=db.schema, values=values), _params(row)
            )
        if await stored.fetchone() is not None:
            return
        # The tenant was deleted here (a refused call of its old token): its rows must not
        # come back, the record of the call stays, without a tenant.
        row = replace(row, tenant_id=None)
    values = ", ".join(f":{c}" for c in _COLUMNS)
    async with db.system_transaction() as session:
        await session.execute(text(_INSERT.format(schema=db.schema, values=values)), _params(row))


async def list_entries(
    session: AsyncSession, schema: str, where: AuditFilter, limit: int
) -> list[AuditRow]:
    """Up to ``limit`` entries matching ``where``, newest first (time, then id)."""
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if where.tenant_id is not None:
        clauses.append("tenant_id = CAST(:tenant AS uuid)")
        params["tenant"] = where.tenant_id
    if where.since is not None:
        clauses.append("at >= :since")
        params["since"] = where.since
    for name in ("actor", "target_id"):
        if value := getattr(where, name):
            clauses.append(f"{name} = :{name}")
            params[name] = value
    if where.rpc:
        clauses.append("(rpc = :rpc OR rpc LIKE :rpc_suffix)")
        params["rpc"] = where.rpc
        params["rpc_suffix"] = "%/" + where.rpc.replace("%", r"\%").replace("_", r"\_")
    if where.before is not None:
        clauses.append("(at, id) < (:before_at, CAST(:before_id AS uuid))")
        params["before_at"], params["before_id"] = where.before
    sql = (
        "SELECT id::text AS id, tenant_id::text AS tenant_id, actor, rpc, target_id, request_id, "
        f"code, request_sha256, at FROM {schema}.{TABLE}"
        + (" WHERE " + " AND ".join(clauses) if clauses else "")
        + " ORDER BY at DESC, id DESC LIMIT :limit"
    )
    result = await session.execute(text(sql), params)
    return [AuditRow(**dict(r._mapping)) for r in result]


async def purge_before(db: Database, cutoff: datetime) -> int:
    """Delete every entry older than ``cutoff`` (as the owner, in bounded batches, each its
    own transaction); returns how many went."""
    total = 0
    sql = text(
        f"DELETE FROM {db.schema}.{TABLE} WHERE id IN "
        f"(SELECT id FROM {db.schema}.{TABLE} WHERE at < :cutoff LIMIT {PURGE_BATCH})"
    )
    while True:
        async with db.system_transaction() as session:
            result: Any = await session.execute(sql, {"cutoff": cutoff})
            deleted = int(result.rowcount or 0)
        total += deleted
        if deleted < PURGE_BATCH:
            return total
