"""Correlation rules of the bound tenant, in evaluation order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import CorrelationRuleRecord
from services.rules.models import correlation_rules
from services.rules.store.rows import as_record


async def all_correlation_rules(session: AsyncSession) -> list[CorrelationRuleRecord]:
    """Every rule of the bound tenant in evaluation order."""
    rows = (
        await session.execute(
            select(correlation_rules).order_by(correlation_rules.c.position, correlation_rules.c.id)
        )
    ).all()
    return [as_record(CorrelationRuleRecord, r) for r in rows]


async def get_correlation_rule(
    session: AsyncSession, *, rule_id: str, for_update: bool = False
) -> CorrelationRuleRecord | None:
    """One rule of the bound tenant."""
    stmt = select(correlation_rules).where(correlation_rules.c.id == rule_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return None if row is None else as_record(CorrelationRuleRecord, row)


async def correlation_rule_named(session: AsyncSession, *, name: str) -> str | None:
    """The id of the bound tenant's rule with ``name``."""
    value = (
        await session.execute(
            select(correlation_rules.c.id).where(correlation_rules.c.name == name)
        )
    ).scalar()
    return None if value is None else str(value)


async def count_correlation_rules(session: AsyncSession) -> int:
    """How many correlation rules the bound tenant has."""
    return int(
        (await session.execute(select(func.count()).select_from(correlation_rules))).scalar_one()
    )


async def shift_positions(session: AsyncSession, *, from_position: int, by: int) -> None:
    """Move every rule at or after ``from_position`` by ``by``."""
    await session.execute(
        update(correlation_rules)
        .where(correlation_rules.c.position >= from_position)
        .values(position=correlation_rules.c.position + by)
    )


async def insert_correlation_rule(
    session: AsyncSession, values: dict[str, Any]
) -> CorrelationRuleRecord:
    """Insert a rule and return it."""
    row = (
        await session.execute(
            correlation_rules.insert().values(**values).returning(correlation_rules)
        )
    ).one()
    return as_record(CorrelationRuleRecord, row)


async def update_correlation_rule(
    session: AsyncSession, *, rule_id: str, values: dict[str, Any]
) -> CorrelationRuleRecord:
    """Update a rule and return it."""
    row = (
        await session.execute(
            update(correlation_rules)
            .where(correlation_rules.c.id == rule_id)
            .values(**values)
            .returning(correlation_rules)
        )
    ).one()
    return as_record(CorrelationRuleRecord, row)


async def delete_correlation_rule(session: AsyncSession, *, rule_id: str) -> None:
    """Delete a rule."""
    await session.execute(correlation_rules.delete().where(correlation_rules.c.id == rule_id))


async def list_correlation_rules(
    session: AsyncSession,
    *,
    after: tuple[int, str] | None,
    limit: int,
    show_disabled: bool,
) -> list[CorrelationRuleRecord]:
    """One page of correlation_rules in evaluation order, after the keyset position ``after``."""
    stmt = (
        select(correlation_rules)
        .order_by(correlation_rules.c.position, correlation_rules.c.id)
        .limit(limit)
    )
    if not show_disabled:
        stmt = stmt.where(correlation_rules.c.enabled)
    if after is not None:
        stmt = stmt.where(
            (correlation_rules.c.position > after[0])
            | ((correlation_rules.c.position == after[0]) & (correlation_rules.c.id > after[1]))
        )
    return [as_record(CorrelationRuleRecord, r) for r in (await session.execute(stmt)).all()]
