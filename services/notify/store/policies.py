"""Notification policies: the tenant's CRUD and the enabled ones planning matches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, any_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.policy import Policy, PolicyFilter
from services.notify.domain.records import PolicyDraft, PolicyRow
from services.notify.models import policies
from services.notify.store.rows import AnyRow, row_of

_UUIDS = ARRAY(UUID(as_uuid=False))
# Prebuilt once: every enabled policy of a set of tenants (a batch's), oldest first.
# Matching by event type happens in Python.
_ENABLED = (
    select(
        policies.c.id,
        policies.c.tenant_id,
        policies.c.event_types,
        policies.c.channel_ids,
        policies.c.disabled,
        policies.c.filter,
    )
    .where(
        policies.c.tenant_id == any_(bindparam("tenants", type_=_UUIDS)),
        policies.c.disabled.is_(False),
    )
    .order_by(policies.c.created_at, policies.c.id)
)


def _policy(row: AnyRow) -> Policy:
    """The domain policy of a stored row."""
    f = row.filter or {}
    return Policy(
        id=str(row.id),
        event_types=frozenset(row.event_types),
        channel_ids=tuple(str(c) for c in row.channel_ids),
        disabled=bool(row.disabled),
        filter=PolicyFilter(
            min_severity=int(f["min_severity"]) if f.get("min_severity") else None,
            priorities=frozenset(int(x) for x in f.get("priorities", [])),
            client_ids=frozenset(f.get("client_ids", [])),
            queues=frozenset(f.get("queues", [])),
            rule_ids=frozenset(f.get("rule_ids", [])),
        ),
    )


async def policies_naming(session: AsyncSession, *, tenant_id: str, channel_id: str) -> int:
    """How many of the tenant's policies deliver to ``channel_id``."""
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(policies)
                .where(
                    policies.c.tenant_id == tenant_id,
                    policies.c.channel_ids.contains([channel_id]),
                )
            )
        ).scalar_one()
    )


def _columns(draft: PolicyDraft) -> dict[str, object]:
    return {
        "display_name": draft.display_name,
        "disabled": draft.disabled,
        "event_types": draft.event_types,
        "filter": draft.filter,
        "channel_ids": draft.channel_ids,
    }


async def insert_policy(
    session: AsyncSession, *, policy_id: str, tenant_id: str, draft: PolicyDraft
) -> PolicyRow:
    """Insert a policy."""
    row = (
        await session.execute(
            policies.insert()
            .values(id=policy_id, tenant_id=tenant_id, **_columns(draft))
            .returning(*policies.c)
        )
    ).one()
    return row_of(PolicyRow, row)


async def get_policy(
    session: AsyncSession, *, tenant_id: str, policy_id: str, for_update: bool = False
) -> PolicyRow | None:
    """One policy of the tenant, or None."""
    query = select(*policies.c).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return row_of(PolicyRow, row) if row else None


async def list_policies(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[PolicyRow]:
    """A page of policies in creation order."""
    query = (
        select(*policies.c)
        .where(policies.c.tenant_id == tenant_id)
        .order_by(policies.c.created_at, policies.c.id)
        .limit(limit)
    )
    if channel_id:
        query = query.where(policies.c.channel_ids.contains([channel_id]))
    if after:
        query = query.where(
            or_(
                policies.c.created_at > after[0],
                and_(policies.c.created_at == after[0], policies.c.id > after[1]),
            )
        )
    return [row_of(PolicyRow, r) for r in (await session.execute(query)).all()]


async def update_policy(
    session: AsyncSession, *, tenant_id: str, policy_id: str, draft: PolicyDraft
) -> PolicyRow:
    """Write new values, bump the version, return the row."""
    row = (
        await session.execute(
            update(policies)
            .where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
            .values(**_columns(draft), version=policies.c.version + 1, updated_at=func.now())
            .returning(*policies.c)
        )
    ).one()
    return row_of(PolicyRow, row)


async def delete_policy(session: AsyncSession, *, tenant_id: str, policy_id: str) -> None:
    """Delete a policy."""
    await session.execute(
        delete(policies).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    )


async def policies_for_event(
    session: AsyncSession, *, tenant_id: str, event_type: str
) -> list[Policy]:
    """The tenant's enabled policies that select ``event_type``, oldest first."""
    rows = (
        await session.execute(
            select(*policies.c)
            .where(
                policies.c.tenant_id == tenant_id,
                policies.c.disabled.is_(False),
                policies.c.event_types.contains([event_type]),
            )
            .order_by(policies.c.created_at, policies.c.id)
        )
    ).all()
    return [_policy(r) for r in rows]


async def enabled_policies(
    session: AsyncSession, *, tenant_ids: Sequence[str]
) -> dict[str, list[Policy]]:
    """Each tenant's enabled policies, oldest first, in one statement."""
    found: dict[str, list[Policy]] = {t: [] for t in tenant_ids}
    if not tenant_ids:
        return found
    for row in await session.execute(_ENABLED, {"tenants": list(tenant_ids)}):
        found.setdefault(str(row.tenant_id), []).append(_policy(row))
    return found
