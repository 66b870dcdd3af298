"""A deleted tenant stays deleted: an old event of it, delivered after a service deleted its
rows (a redelivery, or an event published before the deletion), is dropped at the inbox
claim instead of re-creating rows; another tenant's events in the same batch are handled."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from services.rules.events import ALERT_DURABLE, alert_batch_handler
from services.rules.models import SCHEMA, inbox
from tests.integration.offboarding.rules_step import offboarding, rows_of
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert
from tests.integration.rules.test_batch import received
from triage.runtime.outbox import Inbox
from triage.runtime.tombstones import is_buried

pytestmark = pytest.mark.integration


def dropped(consumer: str) -> float:
    """Events ``consumer`` dropped at its inbox claim for a deleted tenant (this process)."""
    labels = {"service": SCHEMA, "consumer": consumer, "outcome": "tenant_deleted"}
    return REGISTRY.get_sample_value("triage_events_consumed_total", labels) or 0.0


async def test_an_old_event_of_a_deleted_tenant_recreates_nothing(rules: Rules) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    handle = alert_batch_handler(rules.service, Inbox(inbox, ALERT_DURABLE))
    old = received(alert(gone, series_key="a", at=T0))
    await handle([old, received(alert(kept, series_key="a", at=T0))])
    assert await rows_of(rules, gone), "the event made rows to delete"

    assert await offboarding(rules).delete(gone) > 0
    assert await rows_of(rules, gone) == {}

    # The same event again (its inbox row went with the tenant), and a newer one of the
    # tenant, in one batch with another tenant's event.
    newer = received(alert(gone, series_key="b", at=T0 + timedelta(minutes=1)))
    other = received(alert(kept, series_key="b", at=T0 + timedelta(minutes=1)))
    await handle([old, newer, other])

    assert await rows_of(rules, gone) == {}
    kept_rows = await rows_of(rules, kept)
    assert kept_rows["series"] == 2 and kept_rows["inbox"] == 2


async def test_the_inbox_claim_drops_and_counts_a_deleted_tenants_events(rules: Rules) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    consumer = "tombstone-test"
    claims = Inbox(inbox, consumer)
    old, other = received(alert(gone, at=T0)), received(alert(kept, at=T0))
    async with claims.claiming(rules.db, [old]) as (_session, fresh):
        assert fresh == [old]
    await offboarding(rules).delete(gone)
    before = dropped(consumer)

    async with claims.claiming(rules.db, [old, other]) as (_session, fresh):
        assert fresh == [other]
    async with rules.db.system_transaction() as session:
        assert await claims.claim(session, event_id=str(uuid.uuid4()), tenant_id=gone) is False
        assert await claims.claim(session, event_id=str(uuid.uuid4()), tenant_id=kept) is True
    assert dropped(consumer) - before == 1
    assert await rows_of(rules, gone) == {}


async def test_a_batch_that_claimed_before_the_tombstone_is_deleted_with_the_rest(
    rules: Rules,
) -> None:
    tenant = str(uuid.uuid4())
    claims = Inbox(inbox, ALERT_DURABLE)
    event = received(alert(tenant, series_key="a", at=T0))
    claimed, release = asyncio.Event(), asyncio.Event()

    async def slow_batch() -> None:
        # A batch that claimed the tenant's event before the deletion began, still open.
        async with claims.claiming(rules.db, [event]) as (_session, fresh):
            assert fresh == [event]
            claimed.set()
            await release.wait()

    batch = asyncio.create_task(slow_batch())
    await claimed.wait()
    deleting = asyncio.create_task(offboarding(rules).delete(tenant))

    async def buried() -> bool:
        async with rules.db.system_transaction() as session:
            return await is_buried(session, schema=SCHEMA, tenant_id=tenant)

    for _ in range(200):  # bounded: 10 s
        if await buried():
            break
        await asyncio.sleep(0.05)
    assert await buried()
    assert not deleting.done(), "the deletion waits for the batch that claimed before it"
    release.set()
    await batch
    await asyncio.wait_for(deleting, timeout=30)
    assert await rows_of(rules, tenant) == {}
