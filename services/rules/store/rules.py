"""Rules of the bound tenant, in evaluation order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import RuleRecord
from services.rules.models import rules
from services.rules.store.rows import as_record


async def all_rules(session: AsyncSession) -> list[RuleRecord]:
    """Every rule of the bound tenant in evaluation order."""
    rows = (await session.execute(select(rules).order_by(rules.c.position, rules.c.id))).all()
    return [as_record(RuleRecord, r) for r in rows]


async def get_rule(
    session: AsyncSession, *, rule_id: str, for_update: bool = False
) -> RuleRecord | None:
    """One rule of the bound tenant."""
    stmt = select(rules).where(rules.c.id == rule_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return None if row is None else as_record(RuleRecord, row)


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


async def insert_rule(session: AsyncSession, values: dict[str, Any]) -> RuleRecord:
    """Insert a rule and return it."""
    row = (await session.execute(rules.insert().values(**values).returning(rules))).one()
    return as_record(RuleRecord, row)


async def update_rule(session: AsyncSession, *, rule_id: str, values: dict[str, Any]) -> RuleRecord:
    """Update a rule and return it."""
    row = (
        await session.execute(
            update(rules).where(rules.c.id == rule_id).values(**values).returning(rules)
        )
    ).one()
    return as_record(RuleRecord, row)


async def delete_rule(session: AsyncSession, *, rule_id: str) -> None:
    """Delete a rule."""
    await session.execute(rules.delete().where(rules.c.id == rule_id))


async def list_rules(
    session: AsyncSession,
    *,
    after: tuple[int, str] | None,
    limit: int,
    show_disabled: bool,
) -> list[RuleRecord]:
    """One page of rules in evaluation order, after the keyset position ``after``."""
    stmt = select(rules).order_by(rules.c.position, rules.c.id).limit(limit)
    if not show_disabled:
        stmt = stmt.where(rules.c.enabled)
    if after is not None:
        stmt = stmt.where(
            (rules.c.position > after[0])
            | ((rules.c.position == after[0]) & (rules.c.id > after[1]))
        )
    return [as_record(RuleRecord, r) for r in (await session.execute(stmt)).all()]
