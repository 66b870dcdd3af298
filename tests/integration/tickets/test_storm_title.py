"""A client storm's parent title follows its size (issue 19 follow-up): as alerts join, the
title's count grows, each change recorded in history and announced as ``ticket.updated``,
once per batch however many alerts joined in it; a title a person changed stays."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from functools import partial

import pytest
from google.protobuf import field_mask_pb2

from services.tickets.domain.incidents import StormSettings
from services.tickets.domain.tickets import Cause, HistoryKind, TenantSettings, Ticket
from services.tickets.events import routed_alert
from services.tickets.service.base import Actor
from services.tickets.store import incidents as incident_store
from tests.integration.tickets.harness import T0, Harness, new_tenant, poll, routed, token
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.events import unpack
from triage.tickets.v1 import events_pb2 as tickets_events
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as tpb

pytestmark = pytest.mark.integration


def _alerts(tenant: str, first: int, count: int) -> list[Envelope]:
    """``count`` new problems of client Acme (one device each), numbered from ``first``."""
    return [
        routed(
            tenant,
            device=f"dev-{i}",
            condition="offline",
            series=f"int-1:dev-{i}:offline",
            occurred=T0 + timedelta(seconds=i),
            sequence=1,
        )
        for i in range(first, first + count)
    ]


async def _tenant(harness: Harness) -> str:
    """A tenant whose storms start after 3 tickets of one client."""
    tenant = new_tenant()
    await harness.put_settings(tenant, TenantSettings(storm=StormSettings(tickets=3)))
    return tenant


async def _storm_ticket(harness: Harness, tenant: str) -> Ticket:
    [parent] = [t for t in await harness.tickets(tenant) if t.title.startswith("storm:")]
    return parent


async def _title_updates(harness: Harness, tenant: str) -> list[tickets_events.TicketUpdated]:
    updates = [
        unpack(e, tickets_events.TicketUpdated)
        for e in await harness.events(tenant, "ticket.updated")
    ]
    return [u for u in updates if "title" in u.changed_paths]


async def _in_one_batch(harness: Harness, tenant: str, envelopes: list[Envelope]) -> None:
    """Apply ``envelopes`` as one consumer batch (one transaction)."""
    alerts = sorted((routed_alert(e) for e in envelopes), key=lambda a: a.dedup_key)
    async with harness.db.transaction(tenant) as session:
        await harness.service.on_alert_batch(session, [(a, nullcontext()) for a in alerts])


async def test_the_storm_title_counts_alerts_as_they_join(harness: Harness) -> None:
    tenant = await _tenant(harness)
    envelopes = _alerts(tenant, 0, 6)
    for envelope in envelopes:
        await harness.publish(envelope)
    for envelope in envelopes:
        await poll(partial(harness.handled, tenant, envelope.event_id), timeout=30)
    # 3 tickets of their own, then a storm ticket for the other 3: 6 alerts in all.
    parent = await _storm_ticket(harness, tenant)
    assert parent.title == "storm: 6 alerts at Acme, 1 ticket"
    history = await harness.service.list_history(
        tenant_id=tenant, ref=parent.id, after_seq=0, limit=100
    )
    retitled = [
        c
        for h in history.items
        if h.kind is HistoryKind.UPDATED and h.cause is Cause.SYSTEM
        for c in h.changes
        if c.field_path == "title"
    ]
    assert retitled and retitled[-1].after == "storm: 6 alerts at Acme, 1 ticket"
    updates = await _title_updates(harness, tenant)
    assert updates and updates[-1].after.title == parent.title
    assert all(list(u.changed_paths) == ["title"] for u in updates)
    assert all(u.after.status == u.before.status for u in updates)


async def test_one_title_change_per_batch(harness: Harness) -> None:
    tenant = await _tenant(harness)
    await _in_one_batch(harness, tenant, _alerts(tenant, 0, 8))
    parent = await _storm_ticket(harness, tenant)
    assert parent.title == "storm: 8 alerts at Acme, 1 ticket"
    assert len(await _title_updates(harness, tenant)) == 1  # opened at 4, then 8 at once
    await _in_one_batch(harness, tenant, _alerts(tenant, 8, 4))
    parent = await _storm_ticket(harness, tenant)
    assert parent.title == "storm: 12 alerts at Acme, 1 ticket"
    assert parent.occurrence_count == 9  # the storm's own 5 + 4
    assert len(await _title_updates(harness, tenant)) == 2
    # A repeat of a member's alert is an occurrence, not a new alert: the title stays.
    await _in_one_batch(harness, tenant, _alerts(tenant, 8, 1))
    assert (await _storm_ticket(harness, tenant)).title == "storm: 12 alerts at Acme, 1 ticket"
    assert len(await _title_updates(harness, tenant)) == 2


async def test_a_title_a_person_changed_stays(harness: Harness) -> None:
    tenant = await _tenant(harness)
    await _in_one_batch(harness, tenant, _alerts(tenant, 0, 5))
    parent = await _storm_ticket(harness, tenant)
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        got = await stub.GetTicket(
            tpb.GetTicketRequest(ticket_id=parent.id), metadata=token(tenant)
        )
        await stub.UpdateTicket(
            tpb.UpdateTicketRequest(
                ticket=res.Ticket(id=parent.id, etag=got.ticket.etag, title="Acme: site power cut"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
            metadata=token(tenant),
        )
    await _in_one_batch(harness, tenant, _alerts(tenant, 5, 3))
    tickets = await harness.tickets(tenant)
    assert [t.title for t in tickets if t.id == parent.id] == ["Acme: site power cut"]


async def test_moving_a_member_out_recounts(harness: Harness) -> None:
    tenant = await _tenant(harness)
    await _in_one_batch(harness, tenant, _alerts(tenant, 0, 6))
    parent = await _storm_ticket(harness, tenant)
    assert parent.title == "storm: 6 alerts at Acme, 1 ticket"
    async with harness.db.transaction(tenant) as session:
        found = await incident_store.list_incidents(
            session, tenant_id=tenant, open_only=True, limit=10
        )
    [storm] = [i for i in found if i.storm]
    await harness.service.move_member(
        tenant_id=tenant,
        actor=Actor("alice", is_human=True),
        incident_id=storm.id,
        series_key="int-1:dev-5:offline",
    )
    assert (await _storm_ticket(harness, tenant)).title == "storm: 5 alerts at Acme, 1 ticket"
