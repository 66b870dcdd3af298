"""The inbox: handled event ids recorded in the consumer's transaction, so a replay is
harmless."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.db import Database, raw_cursor
from triage.runtime.events import ReceivedEvent


def _first_of_each_id(events: Sequence[ReceivedEvent]) -> dict[str, ReceivedEvent]:
    first: dict[str, ReceivedEvent] = {}
    for event in events:
        first.setdefault(str(uuid.UUID(event.event_id)), event)
    return first


class Inbox:
    """Records handled event ids in the consumer's transaction, so redelivery is harmless."""

    def __init__(self, table: Table, consumer: str) -> None:
        self.table = table
        self.consumer = consumer
        # Arrays in binary: psycopg's text array dumping costs ~20x more per element.
        self._claim_many_sql = (
            f"INSERT INTO {table.schema}.{table.name} (consumer, event_id, tenant_id) "
            "SELECT %(consumer)s, e, t FROM unnest(%(event_ids)b::uuid[], "
            "%(tenant_ids)b::uuid[]) AS x(e, t) "
            "ON CONFLICT DO NOTHING RETURNING event_id::text"
        )

    async def claim_many(
        self, session: AsyncSession, events: Sequence[ReceivedEvent]
    ) -> list[ReceivedEvent]:
        """The events not handled before (first occurrence of each id), claimed at once.

        For batch handlers: one statement for the whole batch. The batch's tenants must be
        bound (:func:`triage.runtime.db.bind_tenants`).
        """
        first = _first_of_each_id(events)
        if not first:
            return []
        async with raw_cursor(
            session, schema=str(self.table.schema), statement=self._claim_many_sql
        ) as cursor:
            await cursor.execute(self._claim_many_sql, self._claim_params(first))
            claimed = {row[0] for row in await cursor.fetchall()}
        return [event for key, event in first.items() if key in claimed]

    @asynccontextmanager
    async def claiming(
        self, db: Database, events: Sequence[ReceivedEvent]
    ) -> AsyncIterator[tuple[AsyncSession, list[ReceivedEvent]]]:
        """A transaction with the events' tenants bound and, as :meth:`claim_many`, the
        events not handled before claimed: BEGIN, the binding and the claim travel in one
        round trip. Yields the session and the claimed events."""
        first = _first_of_each_id(events)
        async with db.transaction_then(
            {e.tenant_id for e in first.values()},
            self._claim_many_sql,
            self._claim_params(first),
        ) as (session, rows):
            claimed = {row[0] for row in rows}
            yield session, [event for key, event in first.items() if key in claimed]

    def _claim_params(self, first: Mapping[str, ReceivedEvent]) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "event_ids": list(first),
            "tenant_ids": [e.tenant_id for e in first.values()],
        }

    async def claim(self, session: AsyncSession, *, event_id: str, tenant_id: str) -> bool:
        """True the first time this consumer sees ``event_id``; False for a redelivery."""
        result = await session.execute(
            insert(self.table)
            .values(consumer=self.consumer, event_id=event_id, tenant_id=tenant_id)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )
        return result.first() is not None
