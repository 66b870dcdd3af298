"""Queries over the ``rules`` schema; every function takes the caller's session, none commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.models import decisions, rules, series, settings, windows

HELD = (series.c.state == "firing") & series.c.suppressed_window_id.is_not(None)


async def get_settings(session: AsyncSession, *, tenant_id: str) -> Row[Any] | None:
    """The tenant's settings row, if any."""
    return (
        await session.execute(select(settings).where(settings.c.tenant_id == tenant_id))
    ).first()


async def bump_version(session: AsyncSession, *, tenant_id: str) -> tuple[int, int]:
    """Lock the tenant's settings row and bump its rule-set version: (before, after).

    Every change to a tenant's rules or windows goes through here first, so changes of one
    tenant are serialized by this row lock.
    """
    base = insert(settings).values(tenant_id=tenant_id, rule_set_version=1)
    stmt = base.on_conflict_do_update(
        index_elements=[settings.c.tenant_id],
        set_={"rule_set_version": settings.c.rule_set_version + 1, "updated_at": func.now()},
    ).returning(settings.c.rule_set_version)
    after = int((await session.execute(stmt)).scalar_one())
    return after - 1, after


async def rule_set_version(session: AsyncSession, *, tenant_id: str) -> int:
    """The tenant's current rule-set version (0 before any change)."""
    value = (
        await session.execute(
            select(settings.c.rule_set_version).where(settings.c.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    return int(value or 0)


async def set_time_zone(
    session: AsyncSession, *, tenant_id: str, time_zone: str, changed_at: datetime
) -> bool:
    """Store the tenant's zone if this change is newer than the stored one; True if it moved."""
    current = (
        await session.execute(
            select(settings.c.time_zone, settings.c.time_zone_changed_at)
            .where(settings.c.tenant_id == tenant_id)
            .with_for_update()
        )
    ).first()
    if current is None:
        await session.execute(
            insert(settings)
            .values(
                tenant_id=tenant_id,
                time_zone=time_zone,
                time_zone_changed_at=changed_at,
                rule_set_version=0,
            )
            .on_conflict_do_nothing()
        )
        return time_zone != "UTC"
    if current.time_zone_changed_at is not None and current.time_zone_changed_at >= changed_at:
        return False
    await session.execute(
        update(settings)
        .where(settings.c.tenant_id == tenant_id)
        .values(time_zone=time_zone, time_zone_changed_at=changed_at)
    )
    return bool(current.time_zone != time_zone)


async def all_rules(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every rule of the bound tenant in evaluation order."""
    return (await session.execute(select(rules).order_by(rules.c.position, rules.c.id))).all()


async def get_rule(
    session: AsyncSession, *, rule_id: str, for_update: bool = False
) -> Row[Any] | None:
    """One rule of the bound tenant."""
    stmt = select(rules).where(rules.c.id == rule_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def rule_named(session: AsyncSession, *, name: str) -> str | None:
    """The id of the bound tenant's rule with ``name``."""
    value = (await session.execute(select(rules.c.id).where(rules.c.name == name))).scalar()
    return None if value is None else str(value)


async def count_rules(session: AsyncSession) -> int:
    """How many rules the bound tenant has."""
    return int((await session.execute(select(func.count()).select_from(rules))).scalar_one())


async def shift_positions(session: AsyncSession, *, from_position: int, by: int) -> None:
    """Move every rule at or after ``from_position`` by ``by``."""
    await session.execute(
        update(rules)
        .where(rules.c.position >= from_position)
        .values(position=rules.c.position + by)
    )


async def insert_rule(session: AsyncSession, values: dict[str, Any]) -> Any:
    """Insert a rule and return its row."""
    return (await session.execute(rules.insert().values(**values).returning(rules))).one()


async def update_rule(session: AsyncSession, *, rule_id: str, values: dict[str, Any]) -> Any:
    """Update a rule and return its row."""
    return (
        await session.execute(
            update(rules).where(rules.c.id == rule_id).values(**values).returning(rules)
        )
    ).one()


async def delete_rule(session: AsyncSession, *, rule_id: str) -> None:
    """Delete a rule."""
    await session.execute(rules.delete().where(rules.c.id == rule_id))


async def list_rules(
    session: AsyncSession,
    *,
    after: tuple[int, str] | None,
    limit: int,
    show_disabled: bool,
) -> Sequence[Row[Any]]:
    """One page of rules in evaluation order, after the keyset position ``after``."""
    stmt = select(rules).order_by(rules.c.position, rules.c.id).limit(limit)
    if not show_disabled:
        stmt = stmt.where(rules.c.enabled)
    if after is not None:
        stmt = stmt.where(
            (rules.c.position > after[0])
            | ((rules.c.position == after[0]) & (rules.c.id > after[1]))
        )
    return (await session.execute(stmt)).all()


async def all_windows(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every window of the bound tenant, oldest first."""
    return (
        await session.execute(select(windows).order_by(windows.c.created_at, windows.c.id))
    ).all()


async def get_window(
    session: AsyncSession, *, window_id: str, for_update: bool = False
) -> Row[Any] | None:
    """One window of the bound tenant."""
    stmt = select(windows).where(windows.c.id == window_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def insert_window(session: AsyncSession, values: dict[str, Any]) -> Any:
    """Insert a window and return its row."""
    return (await session.execute(windows.insert().values(**values).returning(windows))).one()


async def update_window(session: AsyncSession, *, window_id: str, values: dict[str, Any]) -> Any:
    """Update a window and return its row."""
    return (
        await session.execute(
            update(windows).where(windows.c.id == window_id).values(**values).returning(windows)
        )
    ).one()


async def delete_window(session: AsyncSession, *, window_id: str) -> None:
    """Delete a window."""
    await session.execute(windows.delete().where(windows.c.id == window_id))


async def recheck_held_by(session: AsyncSession, *, window_id: str, at: datetime) -> int:
    """Make the series a window holds due for re-evaluation at ``at`` (the window changed)."""
    result = await session.execute(
        update(series)
        .where(HELD, series.c.suppressed_window_id == window_id)
        .values(suppressed_until=func.least(series.c.suppressed_until, at))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def lock_series(session: AsyncSession, *, series_key: str) -> Row[Any] | None:
    """The bound tenant's series row, locked."""
    return (
        await session.execute(
            select(series).where(series.c.series_key == series_key).with_for_update()
        )
    ).first()


async def upsert_series(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert or replace a series row."""
    stmt = insert(series).values(**values)
    keys = {k: stmt.excluded[k] for k in values if k not in ("tenant_id", "series_key")}
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[series.c.tenant_id, series.c.series_key],
            set_={**keys, "updated_at": func.now()},
        )
    )


async def due_series(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Any]:
    """(tenant, series key) of held series whose hold is due, across tenants (owner only)."""
    return (
        await session.execute(
            select(series.c.tenant_id, series.c.series_key)
            .where(HELD, series.c.suppressed_until <= now)
            .order_by(series.c.suppressed_until)
            .limit(limit)
        )
    ).all()


async def next_hold_end(session: AsyncSession) -> datetime | None:
    """The earliest hold end of any held series, across tenants (owner only)."""
    value: datetime | None = (
        await session.execute(select(func.min(series.c.suppressed_until)).where(HELD))
    ).scalar()
    return value


async def lock_due_series(
    session: AsyncSession, *, keys: Sequence[str], now: datetime
) -> Sequence[Row[Any]]:
    """The bound tenant's due held series among ``keys``, locked, skipping ones being handled."""
    return (
        await session.execute(
            select(series)
            .where(HELD, series.c.suppressed_until <= now, series.c.series_key.in_(keys))
            .with_for_update(skip_locked=True)
        )
    ).all()


async def update_series(session: AsyncSession, *, series_key: str, values: dict[str, Any]) -> None:
    """Update one series row of the bound tenant."""
    await session.execute(
        update(series)
        .where(series.c.series_key == series_key)
        .values(**values, updated_at=func.now())
    )


async def insert_decision(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Log a decision; False if the alert was already decided."""
    result = await session.execute(
        insert(decisions).values(**values).on_conflict_do_nothing().returning(decisions.c.alert_id)
    )
    return result.first() is not None


async def get_decision(session: AsyncSession, *, alert_id: str) -> Row[Any] | None:
    """The logged decision (and stored alert) of one alert of the bound tenant."""
    return (
        await session.execute(select(decisions).where(decisions.c.alert_id == alert_id))
    ).first()


async def decisions_between(
    session: AsyncSession, *, start: datetime, end: datetime, limit: int
) -> Sequence[Row[Any]]:
    """The bound tenant's logged decisions of alerts that occurred in ``[start, end)``."""
    return (
        await session.execute(
            select(decisions)
            .where(decisions.c.occurred_at >= start, decisions.c.occurred_at < end)
            .order_by(decisions.c.occurred_at, decisions.c.alert_id)
            .limit(limit)
        )
    ).all()
