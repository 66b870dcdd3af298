"""Channels: the tenant's CRUD, the lookups planning and claiming make."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, any_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.defaults import EnabledChannel
from services.notify.domain.records import ChannelRow, ChannelTarget, SealedChannel
from services.notify.models import channel_state, channels
from services.notify.store.rows import row_of

_WITH_HEALTH = select(
    *channels.c,
    channel_state.c.breaker_state,
    channel_state.c.last_success_at,
    channel_state.c.last_failure_at,
).outerjoin(channel_state, channel_state.c.channel_id == channels.c.id)

_UUIDS = ARRAY(UUID(as_uuid=False))
# Prebuilt once: the channels a batch's deliveries name, across the batch's tenants.
_TARGETS = select(
    channels.c.id,
    channels.c.tenant_id,
    channels.c.kind,
    channels.c.destination,
    channels.c.disabled,
).where(
    channels.c.tenant_id == any_(bindparam("tenants", type_=_UUIDS)),
    channels.c.id == any_(bindparam("ids", type_=_UUIDS)),
)


def _columns(sealed: SealedChannel) -> dict[str, object]:
    return {
        "display_name": sealed.display_name,
        "config": sealed.config,
        "secrets": sealed.secrets,
        "destination": sealed.destination,
        "disabled": sealed.disabled,
        "quiet_hours": sealed.quiet_hours,
        "rate_limit": sealed.rate_limit,
        "digest": sealed.digest,
        "template": sealed.template,
        "is_default": sealed.is_default,
    }


async def insert_channel(
    session: AsyncSession, *, channel_id: str, tenant_id: str, kind: str, sealed: SealedChannel
) -> ChannelRow:
    """Insert a channel and its state row; returns the channel row."""
    row = (
        await session.execute(
            channels.insert()
            .values(id=channel_id, tenant_id=tenant_id, kind=kind, **_columns(sealed))
            .returning(*channels.c)
        )
    ).one()
    await session.execute(channel_state.insert().values(channel_id=channel_id, tenant_id=tenant_id))
    return row_of(ChannelRow, row)


async def get_channel(
    session: AsyncSession, *, tenant_id: str, channel_id: str, for_update: bool = False
) -> ChannelRow | None:
    """One channel of the tenant with its state, or None."""
    query = _WITH_HEALTH.where(channels.c.tenant_id == tenant_id, channels.c.id == channel_id)
    if for_update:
        query = query.with_for_update(of=channels)
    row = (await session.execute(query)).first()
    return row_of(ChannelRow, row) if row else None


async def list_channels(
    session: AsyncSession,
    *,
    tenant_id: str,
    kind: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[ChannelRow]:
    """A page of channels in creation order."""
    query = (
        _WITH_HEALTH.where(channels.c.tenant_id == tenant_id)
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
    return [row_of(ChannelRow, r) for r in (await session.execute(query)).all()]


async def channels_by_id(
    session: AsyncSession, *, tenant_id: str, channel_ids: Iterable[str]
) -> dict[str, ChannelRow]:
    """The tenant's channels among ``channel_ids``."""
    ids = list(dict.fromkeys(channel_ids))
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(*channels.c).where(channels.c.tenant_id == tenant_id, channels.c.id.in_(ids))
        )
    ).all()
    return {str(r.id): row_of(ChannelRow, r) for r in rows}


async def channel_targets(
    session: AsyncSession, *, tenant_ids: Sequence[str], channel_ids: Sequence[str]
) -> dict[str, dict[str, ChannelTarget]]:
    """Per tenant, its channels among ``channel_ids`` (one statement for many tenants)."""
    found: dict[str, dict[str, ChannelTarget]] = {}
    rows = await session.execute(_TARGETS, {"tenants": list(tenant_ids), "ids": list(channel_ids)})
    for row in rows:
        found.setdefault(str(row.tenant_id), {})[str(row.id)] = row_of(ChannelTarget, row)
    return found


async def enabled_channels(
    session: AsyncSession, *, tenant_ids: Sequence[str]
) -> dict[str, list[EnabledChannel]]:
    """Per tenant, its channels that are not disabled, oldest first, each with its
    default mark (the candidates for its default channels)."""
    query = (
        select(channels.c.tenant_id, channels.c.id, channels.c.is_default)
        .where(channels.c.tenant_id.in_(list(tenant_ids)), channels.c.disabled.is_(False))
        .order_by(channels.c.tenant_id, channels.c.created_at, channels.c.id)
    )
    found: dict[str, list[EnabledChannel]] = {}
    for row in (await session.execute(query)).all():
        found.setdefault(str(row.tenant_id), []).append(
            EnabledChannel(str(row.id), bool(row.is_default))
        )
    return found


async def channels_for_claim(
    session: AsyncSession, *, channel_ids: Iterable[str]
) -> list[ChannelRow]:
    """Channels of any tenant among ``channel_ids`` (the delivery claimer's read)."""
    rows = (await session.execute(select(*channels.c).where(channels.c.id.in_(channel_ids)))).all()
    return [row_of(ChannelRow, r) for r in rows]


async def update_channel(
    session: AsyncSession, *, tenant_id: str, channel_id: str, sealed: SealedChannel
) -> None:
    """Write new values and bump the version."""
    await session.execute(
        update(channels)
        .where(channels.c.tenant_id == tenant_id, channels.c.id == channel_id)
        .values(**_columns(sealed), version=channels.c.version + 1, updated_at=func.now())
    )


async def delete_channel(session: AsyncSession, *, tenant_id: str, channel_id: str) -> None:
    """Delete a channel (its state goes with it; deliveries stay as history)."""
    await session.execute(
        delete(channels).where(channels.c.tenant_id == tenant_id, channels.c.id == channel_id)
    )
