"""Flap damping (issue 18): a check that flaps opens one ticket, its flaps are coalesced,
it is marked flapping once, and it closes once quiet; with damping off, the old behaviour."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.tickets import models
from services.tickets.domain.tickets import CloseReason, Damping, TenantSettings, Visibility
from services.tickets.events import alert_batch_handler, routed_alert
from tests.integration.tickets.harness import T0, Harness, new_tenant, routed
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent, unpack
from triage.runtime.outbox import Inbox
from triage.tickets.v1 import events_pb2 as tickets_events

pytestmark = pytest.mark.integration
FLAPS = 25


def _flapping(tenant: str) -> list[Envelope]:
    """The issue's check: trigger, reset, trigger... 25 times in 25 s (one series)."""
    return [
        routed(
            tenant,
            kind=ingest_pb.ALERT_KIND_RESET if i % 2 else ingest_pb.ALERT_KIND_TRIGGER,
            occurred=T0 + timedelta(seconds=i),
            sequence=i + 1,
        )
        for i in range(2 * FLAPS)
    ]


async def _one_at_a_time(harness: Harness, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        async with harness.db.transaction(envelope.tenant_id) as session:
            await harness.service.on_alert(session, routed_alert(envelope))


async def _in_batches(harness: Harness, envelopes: list[Envelope], size: int) -> None:
    handle = alert_batch_handler(harness.db, Inbox(models.inbox, "tickets-flap"), harness.service)
    for start in range(0, len(envelopes), size):
        await handle(
            [
                ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
                for e in envelopes[start : start + size]
            ]
        )


async def _flapping_notices(harness: Harness, tenant: str) -> int:
    """How many ``ticket.updated`` events mark a ticket flapping (what notify announces)."""
    count = 0
    for envelope in await harness.events(tenant, "ticket.updated"):
        payload = unpack(envelope, tickets_events.TicketUpdated)
        if payload.after.flapping and not payload.before.flapping:
            count += 1
    return count


@pytest.mark.parametrize("batch", [0, 7])
async def test_a_flapping_check_keeps_one_ticket_and_closes_once_quiet(
    harness: Harness, batch: int
) -> None:
    tenant = new_tenant()
    envelopes = _flapping(tenant)
    if batch:
        await _in_batches(harness, envelopes, batch)
    else:
        await _one_at_a_time(harness, envelopes)
    [ticket] = await harness.tickets(tenant)
    assert ticket.is_open and ticket.flapping_since is not None
    assert ticket.occurrence_count == FLAPS
    assert await _flapping_notices(harness, tenant) == 1
    assert len(await harness.events(tenant, "ticket.opened")) == 1
    # Coalesced: far fewer comments than state changes.
    comments = await harness.service.list_comments(
        tenant_id=tenant, ref=ticket.id, visibility=Visibility.UNSPECIFIED, after_seq=0, limit=100
    )
    assert len(comments.items) < 10
    assert any("flapping" in c.body for c in comments.items)
    # The last reset was long ago (T0): the sweep closes it as quiet.
    assert await harness.service.settle_flapping() >= 1
    [closed] = await harness.tickets(tenant)
    assert not closed.is_open and closed.close_reason is CloseReason.ALERT_RESET
    assert closed.flapping_since is None
    assert await harness.service.settle_flapping() >= 0  # idempotent: nothing left of it
    [again] = await harness.tickets(tenant)
    assert again.version == closed.version


async def test_the_sweep_waits_while_the_check_is_not_quiet(harness: Harness) -> None:
    tenant = new_tenant()
    await _one_at_a_time(harness, _flapping(tenant))
    clock = harness.service._clock
    last = T0 + timedelta(seconds=2 * FLAPS - 1)
    harness.service._clock = lambda: last + timedelta(minutes=29)
    try:
        await harness.service.settle_flapping()
        [ticket] = await harness.tickets(tenant)
        assert ticket.is_open and ticket.flapping_since is not None
        harness.service._clock = lambda: last + timedelta(minutes=31)
        await harness.service.settle_flapping()
    finally:
        harness.service._clock = clock
    [ticket] = await harness.tickets(tenant)
    assert not ticket.is_open


async def test_with_damping_off_each_flap_opens_and_closes_a_ticket(harness: Harness) -> None:
    tenant = new_tenant()
    await harness.put_settings(tenant, TenantSettings(damping=Damping(enabled=False)))
    await _one_at_a_time(harness, _flapping(tenant))
    tickets = await harness.tickets(tenant)
    assert len(tickets) == FLAPS
    assert not any(t.is_open for t in tickets)
    assert await _flapping_notices(harness, tenant) == 0


async def test_shuffled_arrival_ends_with_the_same_one_ticket(harness: Harness) -> None:
    """Arrival-order independence: the flapping script shuffled and cut into batches ends,
    once quiet, with the in-order outcome (one ticket, all occurrences, closed)."""
    rng = random.Random(18)
    for _ in range(3):
        tenant = new_tenant()
        envelopes = _flapping(tenant)
        rng.shuffle(envelopes)
        await _in_batches(harness, envelopes, rng.randint(1, 9))
        await harness.service.settle_flapping()
        tickets = await harness.tickets(tenant)
        assert [(t.occurrence_count, t.is_open) for t in tickets] == [(FLAPS, False)]


async def test_turning_damping_off_lets_the_next_reset_close_and_notify(harness: Harness) -> None:
    tenant = new_tenant()
    await _one_at_a_time(harness, _flapping(tenant))
    [ticket] = await harness.tickets(tenant)
    assert ticket.flapping_since is not None
    await harness.put_settings(tenant, TenantSettings(damping=Damping(enabled=False)))
    later = [
        routed(tenant, occurred=T0 + timedelta(minutes=5), sequence=100),
        routed(
            tenant,
            kind=ingest_pb.ALERT_KIND_RESET,
            occurred=T0 + timedelta(minutes=6),
            sequence=101,
        ),
    ]
    await _one_at_a_time(harness, later)
    [closed] = await harness.tickets(tenant)
    assert not closed.is_open and closed.flapping_since is None
    last = (await harness.events(tenant, "ticket.closed"))[-1]
    assert not unpack(last, tickets_events.TicketClosed).ticket.flapping
