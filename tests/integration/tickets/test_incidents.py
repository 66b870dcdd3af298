"""Incidents through the real alert consumers (issue 19): a site's correlated alerts give
one parent ticket with linked members, resets in any order close it, a late primary takes
its face, a member's own ticket is merged, and a client's storm collapses."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from google.protobuf import duration_pb2

from services.tickets.domain.incidents import Incident, Member
from services.tickets.domain.tickets import Visibility
from services.tickets.store import incidents as incident_store
from tests.integration.tickets.harness import T0, Harness, new_tenant, poll, routed, token
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import correlation_pb2 as corr_pb
from triage.rules.v1 import events_pb2 as rules_events
from triage.runtime.events import new_envelope, unpack
from triage.tickets.v1 import tickets_service_pb2 as tpb

pytestmark = pytest.mark.integration
RESET = ingest_pb.ALERT_KIND_RESET
GROUP = "corr:rule-9:site_id=site-1"


def correlated(
    tenant: str,
    device: str,
    *,
    minutes: float = 0.0,
    kind: int = ingest_pb.ALERT_KIND_TRIGGER,
    primary: bool = False,
    group: str = GROUP,
    sequence: int = 1,
    at: datetime | None = None,
) -> Envelope:
    """An ``alert.routed`` of ``device`` with the correlation block, keyed by its group."""
    plain = routed(
        tenant,
        kind=kind,
        device=device,
        condition="offline",
        series=f"int-1:{device}:offline",
        occurred=(at or T0) + timedelta(minutes=minutes),
        sequence=sequence,
    )
    payload = unpack(plain, rules_events.AlertRouted)
    window = duration_pb2.Duration()
    window.FromTimedelta(timedelta(minutes=10))
    payload.correlation.CopyFrom(
        corr_pb.Correlation(
            rule_id="rule-9",
            rule_name="site outage",
            group_key=group,
            window=window,
            primary=primary,
            group_values=[corr_pb.GroupValue(field="site_id", value="site-1")],
        )
    )
    return new_envelope(
        tenant_id=tenant,
        event_type="alert.routed",
        payload=payload,
        producer="rules",
        ordering_key=group,
    )


async def publish_all(harness: Harness, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        await harness.publish(envelope)
    for envelope in envelopes:
        await poll(partial(harness.handled, envelope.tenant_id, envelope.event_id), timeout=30)


async def _incidents(harness: Harness, tenant: str) -> list[tuple[Incident, list[Member]]]:
    async with harness.db.transaction(tenant) as session:
        found = await incident_store.list_incidents(
            session, tenant_id=tenant, open_only=False, limit=100
        )
        return [
            (i, await incident_store.members(session, tenant_id=tenant, incident_id=i.id))
            for i in reversed(found)
        ]


async def test_site_outage_is_one_ticket_and_resets_in_any_order_close_it(
    harness: Harness,
) -> None:
    tenant = new_tenant()
    devices = [f"dev-{i:02d}" for i in range(20)]
    await publish_all(
        harness, [correlated(tenant, d, minutes=i * 0.05) for i, d in enumerate(devices)]
    )
    tickets = await harness.tickets(tenant)
    assert len(tickets) == 1 and tickets[0].is_open
    assert tickets[0].occurrence_count == 20
    [(incident, members)] = await _incidents(harness, tenant)
    assert incident.parent_ticket_id == tickets[0].id and len(members) == 20
    assert all(m.occurrences == 1 and m.active for m in members)
    assert len(await harness.events(tenant, "ticket.opened")) == 1

    order = list(devices)
    random.Random(19).shuffle(order)
    await publish_all(
        harness,
        [correlated(tenant, d, minutes=5, kind=RESET, sequence=2) for d in order[:-1]],
    )
    assert (await harness.tickets(tenant))[0].is_open  # one member still firing
    await publish_all(harness, [correlated(tenant, order[-1], minutes=6, kind=RESET, sequence=2)])
    [closed] = await harness.tickets(tenant)
    assert not closed.is_open
    assert len(await harness.events(tenant, "ticket.closed")) == 1
    [(incident, members)] = await _incidents(harness, tenant)
    assert incident.closed_at is not None and not any(m.active for m in members)


async def test_late_primary_takes_the_face_and_a_trigger_after_the_window_starts_anew(
    harness: Harness,
) -> None:
    tenant = new_tenant()
    await publish_all(
        harness,
        [
            correlated(tenant, "pc-1"),
            correlated(tenant, "fw-1", minutes=2, primary=True),
            correlated(tenant, "pc-2", minutes=11),  # after start + window
        ],
    )
    tickets = await harness.tickets(tenant)
    assert len(tickets) == 2
    first, second = await _incidents(harness, tenant)
    assert first[0].primary_series_key == "int-1:fw-1:offline"
    assert [m.primary for m in first[1]] == [False, True]
    assert tickets[0].title == "fw-1: disk low"  # re-rendered from the primary
    assert [m.series_key for m in second[1]] == ["int-1:pc-2:offline"]


async def test_a_member_with_its_own_ticket_is_merged(harness: Harness) -> None:
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
    assert len(tickets) == 2
    merged = [t for t in tickets if not t.is_open]
    assert len(merged) == 1 and merged[0].device_name == "PC-7"
    [(_, members)] = await _incidents(harness, tenant)
    assert members[1].merged_ticket_id == merged[0].id
    comments = await harness.service.list_comments(
        tenant_id=tenant,
        ref=merged[0].id,
        visibility=Visibility.UNSPECIFIED,
        after_seq=0,
        limit=50,
    )
    assert any("Merged into incident" in c.body for c in comments.items)


async def test_a_client_storm_collapses_into_one_ticket(harness: Harness) -> None:
    tenant = new_tenant()
    alerts = [
        routed(
            tenant,
            device=f"dev-{i}",
            condition="offline",
            series=f"int-1:dev-{i}:offline",
            occurred=T0 + timedelta(seconds=i),
            sequence=1,
        )
        for i in range(30)
    ]
    await publish_all(harness, alerts)
    tickets = await harness.tickets(tenant)
    # 20 tickets (the default limit), then one storm ticket for the other 10 alerts.
    assert len(tickets) == 21
    [(storm, members)] = await _incidents(harness, tenant)
    assert storm.storm and len(members) == 10
    parent = next(t for t in tickets if t.id == storm.parent_ticket_id)
    assert parent.title == "storm: 30 alerts at Acme, 1 ticket"  # 20 tickets + 10 members
    # One "opened" event says so; the other members are occurrences of that ticket.
    opened = await harness.events(tenant, "ticket.opened")
    assert len(opened) == 21 and parent.occurrence_count == 10


async def test_a_storm_across_sites_collapses_correlated_groups_too(harness: Harness) -> None:
    tenant = new_tenant()
    await publish_all(
        harness,
        [
            correlated(tenant, f"gw-{i}", minutes=i * 0.01, group=f"corr:rule-9:site_id=s{i}")
            for i in range(25)
        ],
    )
    tickets = await harness.tickets(tenant)
    assert len(tickets) == 21  # 20 sites' incidents, then one storm for the other 5
    found = await _incidents(harness, tenant)
    storms = [(i, m) for i, m in found if i.storm]
    assert len(storms) == 1 and len(storms[0][1]) == 5
    assert len(found) == 21


async def test_a_parent_closed_by_hand_reopens_only_within_the_reopen_window(
    harness: Harness,
) -> None:
    tenant = new_tenant()
    start = datetime.now(UTC) - timedelta(minutes=5)
    await publish_all(
        harness, [correlated(tenant, "pc-1", at=start), correlated(tenant, "pc-2", at=start)]
    )
    [parent] = await harness.tickets(tenant)
    async with harness.channel() as channel:
        await harness.stub(channel).CloseTicket(
            tpb.CloseTicketRequest(ticket_id=parent.id, resolution="fixed the line"),
            metadata=token(tenant),
        )
    # pc-2 fires again 40 minutes after the close: past the 30-minute reopen window (the
    # damping default), so a new incident and ticket, not the closed parent reopened.
    await publish_all(harness, [correlated(tenant, "pc-2", at=start, minutes=45, sequence=2)])
    tickets = await harness.tickets(tenant)
    assert len(tickets) == 2 and not tickets[0].is_open and tickets[1].is_open
    assert [i.closed_at is not None for i, _ in await _incidents(harness, tenant)] == [True, False]
