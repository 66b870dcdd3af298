"""Retention: finished deliveries older than the retention go, with their attempts; the
rest stay."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.notify.domain.model import NotificationMessage, Severity
from services.notify.domain.notifiable import Notifiable
from services.notify.domain.policy import EventFacts
from services.notify.models import deliveries
from services.notify.service.planning import create_deliveries
from tests.integration.notify.flows import webhook_channel
from tests.integration.notify.harness import Harness, poll

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


@pytest.fixture
async def idle_harness(fresh_db: str, nats_url: str) -> AsyncIterator[Harness]:
    """A harness whose delivery worker does not run: rows stay as the test leaves them."""
    started = await Harness.start(fresh_db, nats_url, run_worker=False)
    try:
        yield started
    finally:
        await started.stop()


async def _delivery(harness: Harness, channel_id: str, *, age: timedelta, status: str) -> str:
    message = NotificationMessage(
        event_id=str(uuid.uuid4()),
        event_type="ticket.opened",
        tenant_id=harness.tenant_id,
        occurred_at=NOW - age,
        severity=int(Severity.HIGH),
        title="Disk C: almost full",
        body="Free space 2%",
    )
    facts = EventFacts(event_type="ticket.opened", target_channel_ids=(channel_id,))
    async with harness.db.transaction(harness.tenant_id) as session:
        (created,) = await create_deliveries(
            session, tenant_id=harness.tenant_id, item=Notifiable(message, facts), now=NOW - age
        )
        await session.execute(
            update(deliveries).where(deliveries.c.id == created).values(status=status)
        )
    return created


async def _left(harness: Harness) -> set[str]:
    async with harness.db.system_transaction() as session:
        ids = await session.execute(
            select(deliveries.c.id).where(deliveries.c.tenant_id == harness.tenant_id)
        )
        return {str(i) for i in ids.scalars()}


async def test_the_retention_loop_drops_old_finished_deliveries_only(
    idle_harness: Harness,
) -> None:
    harness = idle_harness
    channel = await webhook_channel(harness, "http://127.0.0.1:9")
    old = timedelta(days=91)
    gone = {
        await _delivery(harness, channel.id, age=old, status=status)
        for status in ("delivered", "skipped", "dead")
    }
    kept = {
        await _delivery(harness, channel.id, age=old, status="failed"),
        await _delivery(harness, channel.id, age=timedelta(days=89), status="delivered"),
    }
    assert await _left(harness) == gone | kept

    loop = asyncio.create_task(harness.notify.retention())
    try:

        async def purged() -> bool:
            return not (await _left(harness) & gone)

        await poll(purged)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert await _left(harness) == kept
