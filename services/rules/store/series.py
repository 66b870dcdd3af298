"""The firing-series projection: the latest trigger of each series and the window holding it.

The batch statement is fixed text over unnest()ed arrays, run on the session's connection
(``raw_cursor``): one round trip and no statement construction per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import HeldSeries, SeriesKey
from services.rules.models import SCHEMA, series
from services.rules.store.rows import as_record
from triage.runtime import raw_cursor

HELD = (series.c.state == "firing") & series.c.suppressed_window_id.is_not(None)

# A NULL trigger_alert keeps the stored one (a reset never replaces the trigger it ends).
_UPSERT_SERIES_MANY = (
    "INSERT INTO rules.series (tenant_id, series_key, state, last_alert_id, last_event_at, "
    "last_sequence, trigger_alert, suppressed_window_id, suppressed_until, updated_at) "
    "SELECT u.*, now() FROM unnest(%(tenant_id)b::uuid[], %(series_key)b::text[], "
    "%(state)b::text[], %(last_alert_id)b::text[], %(last_event_at)b::timestamptz[], "
    "%(last_sequence)b::bigint[], %(trigger_alert)b::bytea[], "
    "%(suppressed_window_id)b::uuid[], %(suppressed_until)b::timestamptz[]) AS u "
    "ON CONFLICT (tenant_id, series_key) DO UPDATE SET state = EXCLUDED.state, "
    "last_alert_id = EXCLUDED.last_alert_id, last_event_at = EXCLUDED.last_event_at, "
    "last_sequence = EXCLUDED.last_sequence, "
    "trigger_alert = COALESCE(EXCLUDED.trigger_alert, rules.series.trigger_alert), "
    "suppressed_window_id = EXCLUDED.suppressed_window_id, "
    "suppressed_until = EXCLUDED.suppressed_until, updated_at = now()"
)


async def due_series(session: AsyncSession, *, now: datetime, limit: int) -> list[SeriesKey]:
    """Held series whose hold is due, across tenants (owner only), earliest first."""
    rows = (
        await session.execute(
            select(series.c.tenant_id, series.c.series_key)
            .where(HELD, series.c.suppressed_until <= now)
            .order_by(series.c.suppressed_until)
            .limit(limit)
        )
    ).all()
    return [SeriesKey(str(r.tenant_id), r.series_key) for r in rows]


async def next_hold_end(session: AsyncSession) -> datetime | None:
    """The earliest hold end of any held series, across tenants (owner only)."""
    value: datetime | None = (
        await session.execute(select(func.min(series.c.suppressed_until)).where(HELD))
    ).scalar()
    return value


async def lock_due_series(
    session: AsyncSession, *, keys: Sequence[str], now: datetime
) -> list[HeldSeries]:
    """The bound tenant's due held series among ``keys``, locked, skipping ones being handled."""
    rows = (
        await session.execute(
            select(series)
            .where(HELD, series.c.suppressed_until <= now, series.c.series_key.in_(keys))
            .with_for_update(skip_locked=True)
        )
    ).all()
    return [as_record(HeldSeries, r) for r in rows]


async def update_series(session: AsyncSession, *, series_key: str, values: dict[str, Any]) -> None:
    """Update one series row of the bound tenant."""
    await session.execute(
        update(series)
        .where(series.c.series_key == series_key)
        .values(**values, updated_at=func.now())
    )


async def upsert_series_many(session: AsyncSession, columns: dict[str, list[Any]]) -> None:
    """Insert or replace series rows (one list per column, one row per key)."""
    async with raw_cursor(session, schema=SCHEMA, statement=_UPSERT_SERIES_MANY) as cursor:
        await cursor.execute(_UPSERT_SERIES_MANY, columns)
