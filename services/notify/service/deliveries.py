"""Delivery use cases of the API: list, read, retry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.records import DeliveryRow, DeliveryView
from services.notify.errors import DeliveryNotFound, DeliveryNotRetryable
from services.notify.service.common import Clock, utcnow
from services.notify.store import deliveries as store
from services.notify.store.attempts import attempts_of
from services.notify.store.requests import requests
from triage.runtime import Database, IdempotentReply, after_commit, is_uuid, once

M = TypeVar("M", bound=Message)


async def _find(
    session: AsyncSession, tenant_id: str, delivery_id: str, *, for_update: bool = False
) -> DeliveryRow:
    row = None
    if is_uuid(delivery_id):
        row = await store.get_delivery(
            session, tenant_id=tenant_id, delivery_id=delivery_id, for_update=for_update
        )
    if row is None:
        raise DeliveryNotFound(delivery_id)
    return row


class Deliveries:
    """The tenant's deliveries: what was sent where, and a retry for failed ones."""

    def __init__(self, *, db: Database, wake: Callable[[], None], clock: Clock = utcnow) -> None:
        self.db = db
        self.wake = wake
        self.clock = clock

    async def list_deliveries(
        self,
        *,
        tenant_id: str,
        channel_id: str | None,
        statuses: Sequence[str],
        event_types: Sequence[str],
        ticket_id: str | None,
        event_id: str | None,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[DeliveryView]:
        """A page of deliveries, each with its last attempt."""
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_deliveries(
                session,
                tenant_id=tenant_id,
                channel_id=channel_id,
                statuses=statuses,
                event_types=event_types,
                ticket_id=ticket_id,
                event_id=event_id,
                start=start,
                end=end,
                after=after,
                limit=limit,
            )
            last = await attempts_of(
                session, tenant_id=tenant_id, delivery_ids=[r.id for r in rows], last_only=True
            )
        return [DeliveryView(r, tuple(last.get(r.id, []))) for r in rows]

    async def get_delivery(self, *, tenant_id: str, delivery_id: str) -> DeliveryView:
        """One delivery with all its attempts."""
        async with self.db.transaction(tenant_id) as session:
            row = await _find(session, tenant_id, delivery_id)
            attempts = await attempts_of(
                session, tenant_id=tenant_id, delivery_ids=[delivery_id], last_only=False
            )
        return DeliveryView(row, tuple(attempts.get(delivery_id, [])))

    async def retry_delivery(
        self, *, tenant_id: str, delivery_id: str, reply: IdempotentReply[DeliveryView, M]
    ) -> M:
        """Queue a FAILED or DEAD delivery for an attempt now; wakes the worker."""

        async def work(session: AsyncSession) -> DeliveryView:
            row = await _find(session, tenant_id, delivery_id, for_update=True)
            if row.status not in ("failed", "dead"):
                raise DeliveryNotRetryable(row.status)
            fresh = await store.requeue_delivery(
                session, tenant_id=tenant_id, delivery_id=delivery_id, now=self.clock()
            )
            attempts = await attempts_of(
                session, tenant_id=tenant_id, delivery_ids=[delivery_id], last_only=True
            )
            after_commit(session, self.wake)
            return DeliveryView(fresh, tuple(attempts.get(delivery_id, [])))

        return await once(self.db, requests, tenant_id, reply, work)
