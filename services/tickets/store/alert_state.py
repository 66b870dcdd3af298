"""What the alert path remembers: reset tombstones and the persistence delay's trigger log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from triage.runtime import raw_cursor


@dataclass(frozen=True, slots=True)
class Tombstone:
    """The latest reset seen for a series."""

    reset_at: datetime
    reset_sequence: int


async def get_tombstone(
    session: AsyncSession, *, tenant_id: str, series_key: str
) -> Tombstone | None:
    """The series' latest reset, if one was seen."""
    s = m.tombstones
    row = (
        await session.execute(
            select(s.c.reset_at, s.c.reset_sequence).where(
                s.c.tenant_id == tenant_id, s.c.series_key == series_key
            )
        )
    ).first()
    return None if row is None else Tombstone(row.reset_at, row.reset_sequence)


_PUT_TOMBSTONE_INSERT = insert(m.tombstones).values(
    tenant_id=bindparam("tenant_id"),
    series_key=bindparam("series_key"),
    reset_at=bindparam("reset_at"),
    reset_sequence=bindparam("reset_sequence"),
    alert_id=bindparam("alert_id"),
)
_PUT_TOMBSTONE = _PUT_TOMBSTONE_INSERT.on_conflict_do_update(
    index_elements=[m.tombstones.c.tenant_id, m.tombstones.c.series_key],
    set_={
        "reset_at": _PUT_TOMBSTONE_INSERT.excluded.reset_at,
        "reset_sequence": _PUT_TOMBSTONE_INSERT.excluded.reset_sequence,
        "alert_id": _PUT_TOMBSTONE_INSERT.excluded.alert_id,
    },
    where=or_(
        _PUT_TOMBSTONE_INSERT.excluded.reset_at > m.tombstones.c.reset_at,
        and_(
            _PUT_TOMBSTONE_INSERT.excluded.reset_at == m.tombstones.c.reset_at,
            _PUT_TOMBSTONE_INSERT.excluded.reset_sequence > m.tombstones.c.reset_sequence,
        ),
    ),
)


async def put_tombstone(
    session: AsyncSession,
    *,
    tenant_id: str,
    series_key: str,
    reset_at: datetime,
    reset_sequence: int,
    alert_id: str,
) -> None:
    """Record a reset of the series, keeping the latest one."""
    await session.execute(
        _PUT_TOMBSTONE,
        {
            "tenant_id": tenant_id,
            "series_key": series_key,
            "reset_at": reset_at,
            "reset_sequence": reset_sequence,
            "alert_id": alert_id,
        },
    )


_PUT_TOMBSTONES = (
    f"INSERT INTO {m.SCHEMA}.reset_tombstones AS s "
    "(tenant_id, series_key, reset_at, reset_sequence, alert_id) "
    "SELECT * FROM unnest(%(tenant_id)b::uuid[], %(series_key)b::text[], "
    "%(reset_at)b::timestamptz[], %(reset_sequence)b::bigint[], %(alert_id)b::text[]) "
    "ON CONFLICT (tenant_id, series_key) DO UPDATE SET reset_at = excluded.reset_at, "
    "reset_sequence = excluded.reset_sequence, alert_id = excluded.alert_id "
    "WHERE (excluded.reset_at, excluded.reset_sequence) > (s.reset_at, s.reset_sequence)"
)


@dataclass(frozen=True, slots=True)
class Reset:
    """A reset to record in its series' tombstone."""

    tenant_id: str
    series_key: str
    reset_at: datetime
    reset_sequence: int
    alert_id: str

    @property
    def position(self) -> tuple[datetime, int]:
        """Where the reset stands in its series' order."""
        return self.reset_at, self.reset_sequence


async def put_tombstones(session: AsyncSession, resets: Sequence[Reset]) -> None:
    """As :func:`put_tombstone` for each of ``resets`` (at most one per series), in one
    statement."""
    if not resets:
        return
    params = {
        "tenant_id": [r.tenant_id for r in resets],
        "series_key": [r.series_key for r in resets],
        "reset_at": [r.reset_at for r in resets],
        "reset_sequence": [r.reset_sequence for r in resets],
        "alert_id": [r.alert_id for r in resets],
    }
    async with raw_cursor(session, schema=m.SCHEMA, statement=_PUT_TOMBSTONES) as cursor:
        await cursor.execute(_PUT_TOMBSTONES, params)


async def log_trigger(
    session: AsyncSession, *, tenant_id: str, dedup_key: str, alert_id: str, occurred_at: datetime
) -> None:
    """Remember a trigger of ``dedup_key`` for the persistence delay."""
    await session.execute(
        insert(m.trigger_log)
        .values(
            tenant_id=tenant_id, dedup_key=dedup_key, alert_id=alert_id, occurred_at=occurred_at
        )
        .on_conflict_do_nothing()
    )


async def trigger_times(
    session: AsyncSession, *, tenant_id: str, dedup_key: str, since: datetime
) -> list[tuple[datetime, str]]:
    """Logged triggers of ``dedup_key`` at or after ``since`` (time, alert id), oldest
    first."""
    g = m.trigger_log
    rows = await session.execute(
        select(g.c.occurred_at, g.c.alert_id)
        .where(g.c.tenant_id == tenant_id, g.c.dedup_key == dedup_key, g.c.occurred_at >= since)
        .order_by(g.c.occurred_at)
    )
    return [(r.occurred_at, r.alert_id) for r in rows]


async def clear_triggers(
    session: AsyncSession, *, tenant_id: str, dedup_key: str, before: datetime | None = None
) -> None:
    """Forget logged triggers of ``dedup_key`` (all of them, or those before ``before``)."""
    g = m.trigger_log
    statement = delete(g).where(g.c.tenant_id == tenant_id, g.c.dedup_key == dedup_key)
    if before is not None:
        statement = statement.where(g.c.occurred_at < before)
    await session.execute(statement)
