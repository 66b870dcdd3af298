"""The inbox: handled event ids recorded in the consumer's transaction, so a replay is
harmless; events of a tenant this schema deleted are never claimed (they would re-create its
rows: :mod:`triage.runtime.tombstones`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, exists, literal, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.db import Database, raw_cursor
from triage.runtime.events import ReceivedEvent
from triage.runtime.fence import BatchFence, FenceChecking, current_fence
from triage.runtime.metrics import EVENTS_CONSUMED
from triage.runtime.tombstones import TABLE as TOMBSTONES
from triage.runtime.tombstones import tombstones_table

log = logging.getLogger(__name__)


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
        self._tombstones = tombstones_table(table.schema)
        self._claim_many_sql = self._claim_sql()
        self._fenced_claims: dict[str, FenceChecking] = {}

    def _claim_sql(self, fence_check: str | None = None) -> str:
        """The claim statement; with ``fence_check``, it also runs a batch's fence check
        (claiming nothing unless the count is ``%(fence_expected)s``) and returns it."""
        schema, table = self.table.schema, self.table.name
        fence = f"fence(held) AS ({fence_check}), " if fence_check else ""
        held = " AND (SELECT held FROM fence) = %(fence_expected)s" if fence_check else ""
        # Arrays in binary: psycopg's text array dumping costs ~20x more per element. Rows:
        # (event id, False) per claimed event, (tenant id, True) per deleted tenant met,
        # (held partitions, None) for the fence.
        return (
            f"WITH {fence}batch AS (SELECT e, t FROM unnest(%(event_ids)b::uuid[], "
            "%(tenant_ids)b::uuid[]) AS x(e, t)), "
            f"gone AS (SELECT deleted_tenant_id AS t FROM {schema}.{TOMBSTONES} "
            "WHERE deleted_tenant_id = ANY(%(tenant_ids)b::uuid[])), "
            f"claimed AS (INSERT INTO {schema}.{table} (consumer, event_id, tenant_id) "
            f"SELECT %(consumer)s, e, t FROM batch WHERE t NOT IN (SELECT t FROM gone){held} "
            "ON CONFLICT DO NOTHING RETURNING event_id::text) "
            "SELECT event_id, false FROM claimed UNION ALL SELECT t::text, true FROM gone"
            + (" UNION ALL SELECT held::text, NULL FROM fence" if fence_check else "")
        )

    def _fenced_claim(self, fence: BatchFence) -> FenceChecking:
        sql = self._fenced_claims.get(fence.check)
        if sql is None:
            sql = self._fenced_claims[fence.check] = FenceChecking(self._claim_sql(fence.check))
        return sql

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
            claimed = self._claimed(first, await cursor.fetchall())
        return [event for key, event in first.items() if key in claimed]

    @asynccontextmanager
    async def claiming(
        self, db: Database, events: Sequence[ReceivedEvent]
    ) -> AsyncIterator[tuple[AsyncSession, list[ReceivedEvent]]]:
        """A transaction with the events' tenants bound and, as :meth:`claim_many`, the
        events not handled before claimed: BEGIN, the binding and the claim travel in one
        round trip. Yields the session and the claimed events."""
        first = _first_of_each_id(events)
        fence = current_fence()
        statement: str = self._claim_many_sql
        params = self._claim_params(first)
        if fence is not None:
            # The fence's check rides in the claim (one statement less per batch).
            statement = self._fenced_claim(fence)
            params.update(fence.params, fence_expected=fence.expected)
        async with db.transaction_then(
            {e.tenant_id for e in first.values()}, statement, params
        ) as (session, rows):
            if fence is not None:
                fence.verify(next((int(row[0]) for row in rows if row[1] is None), 0))
            claimed = self._claimed(first, rows)
            yield session, [event for key, event in first.items() if key in claimed]

    def _claimed(self, first: Mapping[str, ReceivedEvent], rows: Sequence[Any]) -> set[str]:
        """The claimed event ids of a claim's rows; counts and logs the deleted tenants'."""
        gone = {str(row[0]) for row in rows if row[1]}
        if gone:
            dropped = [e for e in first.values() if str(uuid.UUID(e.tenant_id)) in gone]
            EVENTS_CONSUMED.labels(str(self.table.schema), self.consumer, "tenant_deleted").inc(
                len(dropped)
            )
            log.warning(
                "%s: dropped %d event(s) of deleted tenant(s) %s",
                self.consumer,
                len(dropped),
                ", ".join(sorted(gone)),
            )
        return {str(row[0]) for row in rows if row[1] is False}

    def _claim_params(self, first: Mapping[str, ReceivedEvent]) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "event_ids": list(first),
            "tenant_ids": [e.tenant_id for e in first.values()],
        }

    async def claim(self, session: AsyncSession, *, event_id: str, tenant_id: str) -> bool:
        """True the first time this consumer sees ``event_id``; False for a redelivery or an
        event of a tenant deleted here."""
        gone = select(literal(1)).where(self._tombstones.c.deleted_tenant_id == tenant_id)
        values = select(
            literal(self.consumer), literal(event_id, UUID), literal(tenant_id, UUID)
        ).where(~exists(gone))
        result = await session.execute(
            insert(self.table)
            .from_select(["consumer", "event_id", "tenant_id"], values)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )
        return result.first() is not None
