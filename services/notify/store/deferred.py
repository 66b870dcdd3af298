"""After a successful half-open probe, a channel's deferred deliveries go at once.

Deliveries the open (or half-open) breaker deferred wait for the breaker's retry time, up
to a cool-down after the probe started; once the probe succeeded that wait serves no one.
Held deliveries (quiet hours, digests, rate limits) and a receiver's own Retry-After still
count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import attempts, deliveries
from services.notify.store.deliveries import DUE


async def release_deferred(session: AsyncSession, *, channel_id: str, now: datetime) -> int:
    """Make ``channel_id``'s deferred deliveries due ``now``; returns how many moved."""
    d, a = deliveries.c, attempts.c
    asked_to_wait = exists(
        select(a.delivery_id).where(
            a.delivery_id == d.id,
            a.retry_after_seconds.is_not(None),
            a.started_at + func.make_interval(0, 0, 0, 0, 0, 0, a.retry_after_seconds) > now,
        )
    )
    result = await session.execute(
        update(deliveries)
        .where(
            and_(
                d.channel_id == channel_id,
                d.status.in_(DUE),
                d.next_attempt_at > now,
                d.digest_hold.is_(False),
                or_(d.hold_until.is_(None), d.hold_until <= now),
                ~asked_to_wait,
            )
        )
        .values(next_attempt_at=now, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
