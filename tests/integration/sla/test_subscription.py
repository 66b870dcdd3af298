"""What the sla consumer receives (only clock-moving ticket events) and reads per batch."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import func, select

from services.sla import events
from services.sla.models import inbox
from tests.consumer_lag import group_pending
from tests.integration.sla.harness import T0, Sla, TicketMaker, poll


async def _inbox_ids(sla: Sla) -> set[str]:
    async with sla.db.system_transaction() as session:
        rows = await session.execute(select(inbox.c.event_id))
    return {str(r) for r in rows.scalars()}


async def test_occurrences_never_reach_the_sla_consumer(sla: Sla, tenant: str) -> None:
    repeating = TicketMaker.new(tenant, at=T0)
    await sla.send(repeating.opened())
    occurrences = [repeating.occurred(T0 + timedelta(minutes=n)) for n in range(1, 4)]
    for envelope in occurrences:
        await sla.bus.publish(envelope)
    # Published after the occurrences on the same stream: once it is handled, the
    # consumer has moved past them, delivered or not.
    later = TicketMaker.new(tenant, at=T0 + timedelta(minutes=5))
    await sla.send(later.opened())

    handled = await _inbox_ids(sla)
    assert not handled & {e.event_id for e in occurrences}
    view, records, _ = await sla.service.ticket_sla(tenant_id=tenant, ticket_id=repeating.id)
    assert view.facts.updated_at == T0  # the occurrences changed nothing
    assert records
    assert await group_pending(sla.bus.js, "TRIAGE_TICKET", events.TICKETS_DURABLE) == 0


async def test_a_durable_of_an_earlier_release_is_removed_at_start(
    fresh_db: str, nats_url: str, tenant: str
) -> None:
    """Before partitions, a group shared one durable: left alone it would hold every
    message of the stream forever. The first reader of the group removes it."""
    sla = await Sla.start(fresh_db, nats_url, consume=False)
    try:
        await sla.bus.js.add_consumer(
            "TRIAGE_TICKET",
            ConsumerConfig(
                durable_name=events.TICKETS_DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                filter_subject="triage.ticket.>",
            ),
        )
        consumer = events.ticket_consumer(
            sla.bus, sla.db, inbox, sla.service.on_ticket_changes, fetch_timeout_seconds=0.2
        )
        sla.tasks.append(asyncio.create_task(consumer.run()))
        ticket = TicketMaker.new(tenant, at=T0)
        await sla.bus.publish(ticket.opened())

        async def opened_handled() -> bool:
            async with sla.db.system_transaction() as session:
                count = await session.execute(select(func.count()).select_from(inbox))
            return int(count.scalar_one()) == 1

        await poll(opened_handled)
        names = {i.name for i in await sla.bus.js.consumers_info("TRIAGE_TICKET")}
        assert events.TICKETS_DURABLE not in names
    finally:
        await sla.stop()


async def test_a_batch_reads_its_tickets_clocks_zones_and_policies_in_one_go(
    sla: Sla, tenant: str
) -> None:
    from services.sla.store.batch import BatchState, lock_and_read_batch
    from services.sla.store.clocks import clocks_for_update
    from services.sla.store.policies import tenant_policies
    from services.sla.store.tenants import tenant_zones
    from services.sla.store.tickets import tickets_for_update
    from tests.integration.sla.harness import tenant_changed
    from tests.integration.sla.test_clocks import STANDARD, make_calendar, make_policy

    other = str(uuid.uuid4())
    await make_policy(sla, tenant, await make_calendar(sla, tenant), targets=STANDARD)
    await sla.send(tenant_changed(tenant, "America/New_York"))
    known = [TicketMaker.new(tenant, at=T0), TicketMaker.new(other, at=T0)]
    await sla.send(*(t.opened() for t in known))
    keys = sorted([(tenant, t.id) for t in known[:1]] + [(other, known[1].id)])
    keys.append((tenant, str(uuid.uuid4())))  # a ticket the service has not seen
    async with sla.db.transaction(None, tenants=[tenant, other]) as session:
        together = await lock_and_read_batch(session, keys=keys)
        views = await tickets_for_update(session, keys=keys)
        apart = BatchState(
            views,
            await clocks_for_update(session, views=views),
            await tenant_zones(session, tenant_ids=[tenant, other]),
            await tenant_policies(session, tenant_ids=[tenant, other]),
        )
    assert together == apart
    assert len(together.views) == 2
    assert all(together.clocks[k] for k in together.views)
    assert together.zones == {tenant: "America/New_York"}
    assert len(together.policies[tenant]) == 1
    assert together.policies[other] == []
