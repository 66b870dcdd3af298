"""Queries over one table of the bound tenant's ordered, named, versioned rules: routing
rules and correlation rules keep the same columns for their order, name and revision."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import OrderedRecord
from services.rules.store.rows import as_record

R = TypeVar("R", bound=OrderedRecord)


class OrderedRows(Generic[R]):
    """The rows of ``table`` (with id, name, position and enabled columns) as ``record``s."""

    def __init__(self, table: Table, record: type[R]) -> None:
        self.table = table
        self.record = record

    async def all(self, session: AsyncSession) -> list[R]:
        """Every rule of the bound tenant in evaluation order."""
        t = self.table
        rows = (await session.execute(select(t).order_by(t.c.position, t.c.id))).all()
        return [as_record(self.record, r) for r in rows]

    async def get(
        self, session: AsyncSession, *, rule_id: str, for_update: bool = False
    ) -> R | None:
        """One rule of the bound tenant (locked for the transaction when ``for_update``)."""
        stmt = select(self.table).where(self.table.c.id == rule_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await session.execute(stmt)).first()
        return None if row is None else as_record(self.record, row)

    async def named(self, session: AsyncSession, *, name: str) -> str | None:
        """The id of the bound tenant's rule with ``name``."""
        t = self.table
        value = (await session.execute(select(t.c.id).where(t.c.name == name))).scalar()
        return None if value is None else str(value)

    async def count(self, session: AsyncSession) -> int:
        """How many rules the bound tenant has."""
        stmt = select(func.count()).select_from(self.table)
        return int((await session.execute(stmt)).scalar_one())

    async def shift_positions(self, session: AsyncSession, *, from_position: int, by: int) -> None:
        """Move every rule at or after ``from_position`` by ``by``."""
        t = self.table
        await session.execute(
            update(t).where(t.c.position >= from_position).values(position=t.c.position + by)
        )

    async def insert(self, session: AsyncSession, values: dict[str, Any]) -> R:
        """Insert a rule and return it."""
        t = self.table
        row = (await session.execute(t.insert().values(**values).returning(t))).one()
        return as_record(self.record, row)

    async def update(self, session: AsyncSession, *, rule_id: str, values: dict[str, Any]) -> R:
        """Update a rule and return it."""
        t = self.table
        stmt = update(t).where(t.c.id == rule_id).values(**values).returning(t)
        return as_record(self.record, (await session.execute(stmt)).one())

    async def delete(self, session: AsyncSession, *, rule_id: str) -> None:
        """Delete a rule."""
        await session.execute(self.table.delete().where(self.table.c.id == rule_id))

    async def page(
        self,
        session: AsyncSession,
        *,
        after: tuple[int, str] | None,
        limit: int,
        show_disabled: bool,
    ) -> list[R]:
        """One page of rules in evaluation order, after the keyset position ``after``."""
        t = self.table
        stmt = select(t).order_by(t.c.position, t.c.id).limit(limit)
        if not show_disabled:
            stmt = stmt.where(t.c.enabled)
        if after is not None:
            stmt = stmt.where(
                (t.c.position > after[0]) | ((t.c.position == after[0]) & (t.c.id > after[1]))
            )
        return [as_record(self.record, r) for r in (await session.execute(stmt)).all()]
