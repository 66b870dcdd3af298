"""Deliveries: planning's inserts, the API's reads and retry, the claimer's moves."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.digest import DIGEST_EVENT_TYPE
from services.notify.domain.records import DeliveryRow
from services.notify.models import deliveries
from services.notify.store.rows import row_of

DUE = ("queued", "failed")
TERMINAL = ("delivered", "skipped", "dead")
_NO_LEASE: dict[str, object] = {"lease_token": None, "lease_until": None}


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, object]]) -> list[str]:
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


async def insert_delivery(session: AsyncSession, values: dict[str, object]) -> DeliveryRow:
    """Insert one delivery (a digest) and return it."""
    row = (
        await session.execute(deliveries.insert().values(**values).returning(*deliveries.c))
    ).one()
    return row_of(DeliveryRow, row)


async def get_delivery(
    session: AsyncSession, *, tenant_id: str, delivery_id: str, for_update: bool = False
) -> DeliveryRow | None:
    """One delivery of the tenant, or None."""
    query = select(*deliveries.c).where(
        deliveries.c.tenant_id == tenant_id, deliveries.c.id == delivery_id
    )
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return row_of(DeliveryRow, row) if row else None


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
) -> list[DeliveryRow]:
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
    return [row_of(DeliveryRow, r) for r in (await session.execute(query)).all()]


async def requeue_delivery(
    session: AsyncSession, *, tenant_id: str, delivery_id: str, now: datetime
) -> DeliveryRow:
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
    return row_of(DeliveryRow, row)


# -- the claimer ------------------------------------------------------------------------


def _not_busy(busy: Collection[str]) -> ColumnElement[bool]:
    return deliveries.c.channel_id.not_in(sorted(busy)) if busy else true()


def _not_paused(paused: Collection[str]) -> ColumnElement[bool]:
    return deliveries.c.tenant_id.not_in(sorted(paused)) if paused else true()


async def next_due(
    session: AsyncSession, *, busy: Collection[str], paused: Collection[str] = ()
) -> datetime | None:
    """When the next due delivery of a channel not in ``busy`` (and of a tenant not
    ``paused``) is due, if any is."""
    due: datetime | None = (
        await session.execute(
            select(func.min(deliveries.c.next_attempt_at)).where(
                deliveries.c.status.in_(DUE), _not_busy(busy), _not_paused(paused)
            )
        )
    ).scalar_one_or_none()
    return due


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    busy: Collection[str],
    paused: Collection[str] = (),
) -> list[DeliveryRow]:
    """Lock up to ``limit`` due (or lease-expired) deliveries no other claimer holds; a
    ``paused`` (suspended) tenant's deliveries stay queued until it is resumed."""
    d = deliveries.c
    rows = (
        await session.execute(
            select(*deliveries.c)
            .where(
                (d.status.in_(DUE) & (d.next_attempt_at <= now))
                | ((d.status == "sending") & (d.lease_until <= now)),
                _not_busy(busy),
                _not_paused(paused),
            )
            .order_by(d.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    return [row_of(DeliveryRow, r) for r in rows]


async def _set(session: AsyncSession, delivery_id: str, now: datetime, **values: object) -> None:
    await session.execute(
        update(deliveries).where(deliveries.c.id == delivery_id).values(**values, updated_at=now)
    )


async def settle(
    session: AsyncSession, delivery_id: str, *, status: str, dead_reason: str, now: datetime
) -> None:
    """End a delivery unsent (``skipped`` or ``dead``) with its reason."""
    await _set(
        session,
        delivery_id,
        now,
        status=status,
        dead_reason=dead_reason,
        next_attempt_at=None,
        **_NO_LEASE,
    )


async def defer(
    session: AsyncSession,
    delivery_id: str,
    *,
    status: str,
    until: datetime,
    now: datetime,
    hold: bool = False,
) -> None:
    """Make a delivery due again at ``until`` (``hold``: a quiet-hours hold, shown as such)."""
    held = {"hold_until": until} if hold else {}
    await _set(session, delivery_id, now, status=status, next_attempt_at=until, **held, **_NO_LEASE)


async def hold_for_digest(
    session: AsyncSession, delivery_id: str, *, until: datetime, now: datetime
) -> None:
    """Hold a delivery for the channel's digest (or its rate limit) until ``until``."""
    await _set(
        session,
        delivery_id,
        now,
        status="queued",
        digest_hold=True,
        next_attempt_at=until,
        **_NO_LEASE,
    )


async def release_digest_hold(session: AsyncSession, delivery_id: str, *, now: datetime) -> None:
    """A lone held delivery goes out as itself."""
    await _set(session, delivery_id, now, digest_hold=False)


async def lease(
    session: AsyncSession,
    delivery_id: str,
    *,
    token: str,
    until: datetime,
    attempt: int,
    now: datetime,
) -> None:
    """Mark a delivery ``sending`` under the lease ``token`` for attempt number ``attempt``."""
    await _set(
        session,
        delivery_id,
        now,
        status="sending",
        lease_token=token,
        lease_until=until,
        attempt_count=attempt,
        hold_until=None,
    )


async def recent_count(session: AsyncSession, *, channel_id: str, since: datetime) -> int:
    """Non-critical, non-digest deliveries of a channel created after ``since``."""
    d = deliveries.c
    recent = (
        await session.execute(
            select(func.count())
            .select_from(deliveries)
            .where(
                d.channel_id == channel_id,
                d.created_at > since,
                d.event_type != DIGEST_EVENT_TYPE,
                d.critical.is_(False),
            )
        )
    ).scalar_one()
    return int(recent)


async def lock_digest_group(session: AsyncSession, *, channel_id: str) -> list[DeliveryRow]:
    """The channel's deliveries held for a digest, oldest first, locked."""
    d = deliveries.c
    rows = (
        await session.execute(
            select(*deliveries.c)
            .where(
                d.channel_id == channel_id,
                d.digest_hold.is_(True),
                d.status.in_(("queued", "sending")),
            )
            .order_by(d.created_at)
            .with_for_update(skip_locked=True)
        )
    ).all()
    return [row_of(DeliveryRow, r) for r in rows]


async def fold_into_digest(
    session: AsyncSession, *, delivery_ids: Sequence[str], digest_id: str, now: datetime
) -> None:
    """Skip the held deliveries a digest now carries."""
    await session.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(list(delivery_ids)))
        .values(
            status="skipped",
            digest_hold=False,
            digest_delivery_id=digest_id,
            dead_reason=f"folded into digest {digest_id}",
            next_attempt_at=None,
            lease_token=None,
            lease_until=None,
            updated_at=now,
        )
    )


# -- recording an attempt ---------------------------------------------------------------


async def lock_if_leased(session: AsyncSession, *, delivery_id: str, lease_token: str) -> bool:
    """Lock the delivery if it is still ``sending`` under ``lease_token``."""
    d = deliveries.c
    mine = (
        await session.execute(
            select(d.id)
            .where(d.id == delivery_id, d.status == "sending", d.lease_token == lease_token)
            .with_for_update()
        )
    ).first()
    return mine is not None


async def _finish(
    session: AsyncSession, delivery_id: str, now: datetime, **values: object
) -> DeliveryRow:
    row = (
        await session.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(**_NO_LEASE, updated_at=now, **values)
            .returning(*deliveries.c)
        )
    ).one()
    return row_of(DeliveryRow, row)


async def mark_delivered(session: AsyncSession, delivery_id: str, *, now: datetime) -> DeliveryRow:
    """The attempt got through."""
    return await _finish(
        session,
        delivery_id,
        now,
        status="delivered",
        delivered_at=now,
        next_attempt_at=None,
        dead_reason=None,
    )


async def mark_dead(
    session: AsyncSession, delivery_id: str, *, reason: str, now: datetime
) -> DeliveryRow:
    """No more attempts."""
    return await _finish(
        session, delivery_id, now, status="dead", next_attempt_at=None, dead_reason=reason
    )


async def mark_failed(
    session: AsyncSession, delivery_id: str, *, retry_at: datetime, now: datetime
) -> DeliveryRow:
    """The attempt failed; the next one is due at ``retry_at``."""
    return await _finish(session, delivery_id, now, status="failed", next_attempt_at=retry_at)


async def delete_finished(session: AsyncSession, *, before: datetime) -> int:
    """Delete finished deliveries (their attempts cascade) created before ``before``."""
    result = await session.execute(
        delete(deliveries).where(
            deliveries.c.created_at < before, deliveries.c.status.in_(TERMINAL)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
