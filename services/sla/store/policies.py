"""SLA policies, one by one and every policy of the tenants of a batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.policy import PolicySpec, ScopeKind
from services.sla.domain.stored import Stored
from services.sla.models import (
    SCHEMA,
    policies,
)
from services.sla.store.sql import Rows, after_position
from triage.runtime import fetch_together, select_list


def policy_of(row: Any) -> Stored[PolicySpec]:
    """A policy row as a stored policy."""
    spec = PolicySpec.from_json({**row.spec, "id": row.id, "version": row.version})
    return Stored(spec, row.created_at, row.updated_at)


def _policy_values(spec: PolicySpec) -> dict[str, Any]:
    return {
        "display_name": spec.name,
        "scope_kind": int(spec.scope),
        "client_id": spec.client_id if spec.scope is ScopeKind.CLIENT else "",
        "queue": spec.queue if spec.scope is ScopeKind.QUEUE else "",
        "calendar_id": spec.calendar_id or None,
        "spec": spec.to_json(),
    }


async def insert_policy(
    session: AsyncSession, *, tenant_id: str, spec: PolicySpec, at: datetime
) -> None:
    """Insert a policy (version 1)."""
    await session.execute(
        policies.insert().values(
            id=spec.id,
            tenant_id=tenant_id,
            version=1,
            created_at=at,
            updated_at=at,
            **_policy_values(spec),
        )
    )


async def get_policy(
    session: AsyncSession, *, tenant_id: str, policy_id: str, lock: bool = False
) -> Stored[PolicySpec] | None:
    """One policy (``lock``: FOR UPDATE)."""
    query = select(policies).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    return None if row is None else policy_of(row)


async def list_policies(
    session: AsyncSession,
    *,
    tenant_id: str,
    scope: ScopeKind,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Stored[PolicySpec]]:
    """Policies in creation order after ``after``, optionally of one scope kind."""
    query = select(policies).where(policies.c.tenant_id == tenant_id)
    if scope is not ScopeKind.UNSPECIFIED:
        query = query.where(policies.c.scope_kind == int(scope))
    if after is not None:
        query = query.where(after_position(policies.c.created_at, policies.c.id, after))
    rows = await session.execute(query.order_by(policies.c.created_at, policies.c.id).limit(limit))
    return [policy_of(r) for r in rows]


async def replace_policy(
    session: AsyncSession, *, tenant_id: str, spec: PolicySpec, at: datetime
) -> None:
    """Store ``spec`` (its version already bumped) in place of the old."""
    await session.execute(
        update(policies)
        .where(policies.c.tenant_id == tenant_id, policies.c.id == spec.id)
        .values(version=spec.version, updated_at=at, **_policy_values(spec))
    )


async def delete_policy(session: AsyncSession, *, tenant_id: str, policy_id: str) -> None:
    """Delete a policy; running clocks keep their snapshot."""
    await session.execute(
        delete(policies).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    )


async def candidate_policies(
    session: AsyncSession, *, tenant_id: str, client_id: str, queue: str
) -> list[PolicySpec]:
    """The policies that could apply to a ticket of ``client_id`` in ``queue``."""
    rows = await session.execute(
        select(policies).where(
            policies.c.tenant_id == tenant_id,
            or_(
                policies.c.scope_kind == int(ScopeKind.TENANT_DEFAULT),
                and_(
                    policies.c.scope_kind == int(ScopeKind.CLIENT),
                    policies.c.client_id == client_id,
                ),
                and_(policies.c.scope_kind == int(ScopeKind.QUEUE), policies.c.queue == queue),
            ),
        )
    )
    return [policy_of(r).value for r in rows]


BATCH_POLICIES = (
    f"SELECT {select_list(policies)} FROM {SCHEMA}.policies "
    "WHERE tenant_id = ANY(%(tenant_ids)b::uuid[])"
)


def policies_of(tenant_ids: Sequence[str], rows: Rows) -> dict[str, list[PolicySpec]]:
    """Every policy of each tenant among ``tenant_ids`` from batch-read rows."""
    found: dict[str, list[PolicySpec]] = {t: [] for t in tenant_ids}
    for r in rows:
        found.setdefault(r["tenant_id"], []).append(policy_of(SimpleNamespace(**r)).value)
    return found


async def tenant_policies(
    session: AsyncSession, *, tenant_ids: Sequence[str]
) -> dict[str, list[PolicySpec]]:
    """Every policy of each tenant among ``tenant_ids``."""
    if not tenant_ids:
        return {}
    query = (BATCH_POLICIES, {"tenant_ids": list(tenant_ids)})
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return policies_of(tenant_ids, rows)
