"""Channel state: breaker, token bucket and digest timer, locked while a claim decides."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.records import ChannelStateRow
from services.notify.models import channel_state
from services.notify.store.rows import row_of


async def lock_states(
    session: AsyncSession, *, channel_ids: Iterable[str]
) -> dict[str, ChannelStateRow]:
    """The state rows of ``channel_ids``, locked in id order (no deadlocks between claims)."""
    rows = (
        await session.execute(
            select(*channel_state.c)
            .where(channel_state.c.channel_id.in_(sorted(channel_ids)))
            .order_by(channel_state.c.channel_id)
            .with_for_update()
        )
    ).all()
    return {str(r.channel_id): row_of(ChannelStateRow, r) for r in rows}


async def get_state(
    session: AsyncSession, *, channel_id: str, for_update: bool = False
) -> ChannelStateRow | None:
    """One channel's state row, or None."""
    query = select(*channel_state.c).where(channel_state.c.channel_id == channel_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return row_of(ChannelStateRow, row) if row else None


async def save_state(session: AsyncSession, state: ChannelStateRow) -> None:
    """Write every column of ``state`` but its keys."""
    await session.execute(
        update(channel_state)
        .where(channel_state.c.channel_id == state.channel_id)
        .values(
            breaker_state=state.breaker_state,
            consecutive_failures=state.consecutive_failures,
            opened_at=state.opened_at,
            probe_started_at=state.probe_started_at,
            tokens=state.tokens,
            tokens_at=state.tokens_at,
            digest_flush_at=state.digest_flush_at,
            last_success_at=state.last_success_at,
            last_failure_at=state.last_failure_at,
        )
    )


async def save_outcome(
    session: AsyncSession,
    *,
    channel_id: str,
    breaker_state: str,
    consecutive_failures: int,
    opened_at: datetime | None,
    probe_started_at: datetime | None,
    ok: bool,
    now: datetime,
) -> None:
    """Store the breaker after an attempt, and when the channel last succeeded or failed."""
    outcome = {"last_success_at": now} if ok else {"last_failure_at": now}
    await session.execute(
        update(channel_state)
        .where(channel_state.c.channel_id == channel_id)
        .values(
            breaker_state=breaker_state,
            consecutive_failures=consecutive_failures,
            opened_at=opened_at,
            probe_started_at=probe_started_at,
            **outcome,
        )
    )
