"""Queries over the notify schema; they take a session and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import attempts, channel_state, channels, deliveries, policies

Row = Any


async def insert_channel(session: AsyncSession, *, values: dict[str, Any]) -> Row:
    """Insert a channel and its state row; returns the channel row."""
    row = (await session.execute(channels.insert().values(**values).returning(*channels.c))).one()
    await session.execute(
        channel_state.insert().values(channel_id=values["id"], tenant_id=values["tenant_id"])
    )
    return row._mapping


async def get_channel(
    session: AsyncSession, *, tenant_id: str, channel_id: str, for_update: bool = False
) -> Row | None:
    """One channel of the tenant with its state, or None."""
    query = (
        select(
            *channels.c,
            channel_state.c.breaker_state,
            channel_state.c.last_success_at,
            channel_state.c.last_failure_at,
        )
        .outerjoin(channel_state, channel_state.c.channel_id == channels.c.id)
        .where(channels.c.tenant_id == tenant_id, channels.c.id == channel_id)
    )
    if for_update:
        query = query.with_for_update(of=channels)
    row = (await session.execute(query)).first()
    return row._mapping if row else None


async def list_channels(
    session: AsyncSession,
    *,
    tenant_id: str,
    kind: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row]:
    """A page of channels in creation order."""
    query = (
        select(
            *channels.c,
            channel_state.c.breaker_state,
            channel_state.c.last_success_at,
            channel_state.c.last_failure_at,
        )
        .outerjoin(channel_state, channel_state.c.channel_id == channels.c.id)
        .where(channels.c.tenant_id == tenant_id)
        .order_by(channels.c.created_at, channels.c.id)
        .limit(limit)
    )
    if kind:
        query = query.where(channels.c.kind == kind)
    if after:
        query = query.where(
            or_(
                channels.c.created_at > after[0],
                and_(channels.c.created_at == after[0], channels.c.id > after[1]),
            )
        )
    return [r._mapping for r in (await session.execute(query)).all()]


async def channels_by_id(
    session: AsyncSession, *, tenant_id: str, channel_ids: Iterable[str]
) -> dict[str, Row]:
    """The tenant's channels among ``channel_ids``."""
    ids = list(dict.fromkeys(channel_ids))
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(*channels.c).where(channels.c.tenant_id == tenant_id, channels.c.id.in_(ids))
        )
    ).all()
    return {str(r.id): r._mapping for r in rows}


async def update_channel(
    session: AsyncSession, *, tenant_id: str, channel_id: str, values: dict[str, Any]
) -> None:
    """Write new values and bump the version."""
    await session.execute(
        update(channels)
        .where(channels.c.tenant_id == tenant_id, channels.c.id == channel_id)
        .values(**values, version=channels.c.version + 1, updated_at=func.now())
    )


async def delete_channel(session: AsyncSession, *, tenant_id: str, channel_id: str) -> None:
    """Delete a channel (its state goes with it; deliveries stay as history)."""
    await session.execute(
        delete(channels).where(channels.c.tenant_id == tenant_id, channels.c.id == channel_id)
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


async def insert_policy(session: AsyncSession, *, values: dict[str, Any]) -> Row:
    """Insert a policy."""
    row = (await session.execute(policies.insert().values(**values).returning(*policies.c))).one()
    return row._mapping


async def get_policy(
    session: AsyncSession, *, tenant_id: str, policy_id: str, for_update: bool = False
) -> Row | None:
    """One policy of the tenant, or None."""
    query = select(*policies.c).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return row._mapping if row else None


async def list_policies(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row]:
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
    return [r._mapping for r in (await session.execute(query)).all()]


async def update_policy(
    session: AsyncSession, *, tenant_id: str, policy_id: str, values: dict[str, Any]
) -> Row:
    """Write new values, bump the version, return the row."""
    row = (
        await session.execute(
            update(policies)
            .where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
            .values(**values, version=policies.c.version + 1, updated_at=func.now())
            .returning(*policies.c)
        )
    ).one()
    return row._mapping


async def delete_policy(session: AsyncSession, *, tenant_id: str, policy_id: str) -> None:
    """Delete a policy."""
    await session.execute(
        delete(policies).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    )


async def policies_for_event(
    session: AsyncSession, *, tenant_id: str, event_type: str
) -> list[Row]:
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
    return [r._mapping for r in rows]


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert deliveries, skipping any whose idempotency key exists; returns new ids."""
    if not rows:
        return []
    result = await session.execute(
        insert(deliveries)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(deliveries.c.id)
    )
    return [str(r) for r in result.scalars()]


async def get_delivery(
    session: AsyncSession, *, tenant_id: str, delivery_id: str, for_update: bool = False
) -> Row | None:
    """One delivery of the tenant, or None."""
    query = select(*deliveries.c).where(
        deliveries.c.tenant_id == tenant_id, deliveries.c.id == delivery_id
    )
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return row._mapping if row else None


async def list_deliveries(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_id: str | None,
    statuses: Sequence[str],
    event_types: Sequence[str],
    ticket_id: str | None,
    event_id: str | None,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row]:
    """A page of deliveries, newest first."""
    d = deliveries.c
    query = (
        select(*deliveries.c)
        .where(d.tenant_id == tenant_id)
        .order_by(d.created_at.desc(), d.id.desc())
        .limit(limit)
    )
    if channel_id:
        query = query.where(d.channel_id == channel_id)
    if statuses:
        query = query.where(d.status.in_(list(statuses)))
    if event_types:
        query = query.where(d.event_type.in_(list(event_types)))
    if ticket_id:
        query = query.where(d.ticket_id == ticket_id)
    if event_id:
        query = query.where(d.event_id == event_id)
    if start:
        query = query.where(d.created_at >= start)
    if end:
        query = query.where(d.created_at < end)
    if after:
        query = query.where(
            or_(d.created_at < after[0], and_(d.created_at == after[0], d.id < after[1]))
        )
    return [r._mapping for r in (await session.execute(query)).all()]


async def attempts_of(
    session: AsyncSession, *, tenant_id: str, delivery_ids: Sequence[str], last_only: bool
) -> dict[str, list[Row]]:
    """Attempts per delivery, oldest first (or only the last one)."""
    if not delivery_ids:
        return {}
    a = attempts.c
    query = select(*attempts.c).where(a.tenant_id == tenant_id, a.delivery_id.in_(delivery_ids))
    if last_only:
        query = query.ext(distinct_on(a.delivery_id)).order_by(a.delivery_id, a.number.desc())
    else:
        query = query.order_by(a.delivery_id, a.number)
    out: dict[str, list[Row]] = {}
    for row in (await session.execute(query)).all():
        out.setdefault(str(row.delivery_id), []).append(row._mapping)
    return out


async def requeue_delivery(
    session: AsyncSession, *, tenant_id: str, delivery_id: str, now: datetime
) -> Row:
    """Queue a delivery for an immediate attempt, restarting its age."""
    row = (
        await session.execute(
            update(deliveries)
            .where(deliveries.c.tenant_id == tenant_id, deliveries.c.id == delivery_id)
            .values(
                status="queued",
                next_attempt_at=now,
                hold_until=None,
                dead_reason=None,
                lease_token=None,
                lease_until=None,
                age_from=now,
                updated_at=now,
            )
            .returning(*deliveries.c)
        )
    ).one()
    return row._mapping
