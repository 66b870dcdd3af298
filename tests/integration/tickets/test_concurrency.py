"""Many triggers of one key at once never make two tickets."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.tickets.events import routed_alert
from tests.integration.tickets.harness import T0, Harness, new_tenant, poll, routed

pytestmark = pytest.mark.integration


async def test_50_triggers_through_two_replicas_make_one_ticket(harness: Harness) -> None:
    tenant = new_tenant()
    envelopes = [routed(tenant, occurred=T0 + timedelta(seconds=i)) for i in range(50)]
    await asyncio.gather(*(harness.publish(e) for e in envelopes))

    async def all_handled() -> bool:
        done = await asyncio.gather(*(harness.handled(tenant, e.event_id) for e in envelopes))
        return all(done)

    await poll(all_handled, timeout=20)
    [ticket] = await harness.tickets(tenant)
    assert ticket.occurrence_count == 50
    assert ticket.first_occurrence_at == T0
    assert ticket.last_occurrence_at == T0 + timedelta(seconds=49)
    assert len(await harness.events(tenant, "ticket.opened")) == 1
    assert len(await harness.events(tenant, "ticket.occurred")) == 49


async def test_50_concurrent_transactions_serialize_on_the_key(harness: Harness) -> None:
    tenant = new_tenant()
    alerts = [routed_alert(routed(tenant, occurred=T0 + timedelta(seconds=i))) for i in range(50)]

    async def handle(index: int) -> None:
        async with harness.db.transaction(tenant) as session:
            await harness.service.on_alert(session, alerts[index])

    await asyncio.gather(*(handle(i) for i in range(50)))
    [ticket] = await harness.tickets(tenant)
    assert ticket.occurrence_count == 50
    assert ticket.number == 1
