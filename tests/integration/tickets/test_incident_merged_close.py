"""A ticket closed because it was merged (issue 19 follow-up) is told apart from a resolved
one: its ``ticket.closed`` says reason MERGED and which ticket (and incident) took it over,
both for a member's own ticket merged into the parent and for an incident merged by a person."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.tickets.domain.tickets import CloseReason
from services.tickets.service.base import Actor
from tests.integration.tickets.harness import T0, Harness, closed_payload, new_tenant, routed
from tests.integration.tickets.test_incidents import RESET, _incidents, correlated, publish_all
from triage.tickets.v1 import events_pb2 as tickets_events
from triage.tickets.v1 import resources_pb2 as res

pytestmark = pytest.mark.integration


async def _closes(harness: Harness, tenant: str) -> dict[str, tickets_events.TicketClosed]:
    """The tenant's ``ticket.closed`` payloads by ticket id."""
    payloads = [closed_payload(e) for e in await harness.events(tenant, "ticket.closed")]
    return {p.ticket.id: p for p in payloads}


async def test_a_members_own_ticket_closes_as_merged_into_the_parent(harness: Harness) -> None:
    tenant = new_tenant()
    own = routed(
        tenant,
        device="pc-7",
        condition="offline",
        series="int-1:pc-7:offline",
        occurred=T0 - timedelta(minutes=30),
        sequence=1,
    )
    await publish_all(harness, [own])
    await publish_all(
        harness, [correlated(tenant, "pc-1"), correlated(tenant, "pc-7", minutes=1, sequence=2)]
    )
    tickets = await harness.tickets(tenant)
    [merged] = [t for t in tickets if not t.is_open]
    [parent] = [t for t in tickets if t.is_open]
    [(incident, _)] = await _incidents(harness, tenant)
    assert merged.close_reason is CloseReason.MERGED
    closes = await _closes(harness, tenant)
    assert list(closes) == [merged.id]
    close = closes[merged.id]
    assert close.reason == res.CLOSE_REASON_MERGED and close.auto and not close.reset_alert
    assert close.HasField("merged_into")
    assert (
        close.merged_into.ticket_id,
        close.merged_into.ticket_number,
        close.merged_into.incident_id,
    ) == (parent.id, parent.number, incident.id)


async def test_an_incident_merged_by_a_person_closes_as_merged(harness: Harness) -> None:
    tenant = new_tenant()
    await publish_all(
        harness,
        [
            correlated(tenant, "pc-1", group="corr:rule-9:site_id=a"),
            correlated(tenant, "pc-2", minutes=1, group="corr:rule-9:site_id=b"),
        ],
    )
    (target, _), (source, _) = await _incidents(harness, tenant)
    await harness.service.merge_incidents(
        tenant_id=tenant,
        actor=Actor("alice", is_human=True),
        target_id=target.id,
        source_id=source.id,
    )
    by_id = {t.id: t for t in await harness.tickets(tenant)}
    closes = await _closes(harness, tenant)
    close = closes[source.parent_ticket_id]
    assert close.reason == res.CLOSE_REASON_MERGED and close.actor == "alice" and not close.auto
    assert close.merged_into.ticket_number == by_id[target.parent_ticket_id].number
    assert close.merged_into.incident_id == target.id
    assert by_id[source.parent_ticket_id].close_reason is CloseReason.MERGED


async def test_a_resolved_close_carries_no_merge(harness: Harness) -> None:
    tenant = new_tenant()
    await publish_all(harness, [correlated(tenant, "pc-1")])
    await publish_all(harness, [correlated(tenant, "pc-1", minutes=2, kind=RESET, sequence=2)])
    [close] = (await _closes(harness, tenant)).values()
    assert close.reason == res.CLOSE_REASON_ALERT_RESET and not close.HasField("merged_into")
