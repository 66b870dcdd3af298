"""``sla.cancelled`` and the breaches' cancel time on a real PostgreSQL and NATS: a merge
announces each clock it ends with no outcome exactly once (none for a clock met or
breached before it, none again on redelivery), and ``ListBreaches`` and ``triage sla
breaches`` tell a breach whose clock the merge cancelled."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from services.sla import events
from services.sla.models import outbox
from services.sla.workers.timers import Scheduler
from tests.consumer_lag import group_pending
from tests.integration.sla.harness import T0, Sla, TicketMaker, token
from tests.integration.sla.test_cli import _triage
from tests.integration.sla.test_merged_close import _policy
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.clients import open_channel
from triage.runtime.events import envelope_subject
from triage.sla.v1 import events_pb2 as sev
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub

pytestmark = pytest.mark.integration

H = timedelta(hours=1)
FIRST = pb.SLA_TARGET_KIND_FIRST_RESPONSE
RESOLUTION = pb.SLA_TARGET_KIND_RESOLUTION


async def _cancelled(sla: Sla) -> list[sev.SlaCancelled]:
    return await sla.emitted("sla.cancelled", sev.SlaCancelled)


async def _merged_family(sla: Sla, tenant: str) -> tuple[TicketMaker, dict[str, TicketMaker]]:
    """A parent and three tickets merged into it at T0 + 2 h: one untouched, one answered
    at T0 + 15 min, one whose first response a timer recorded breached at T0 + 1.5 h."""
    await _policy(sla, tenant)
    parent = TicketMaker.new(tenant, at=T0)
    parent.ticket.number = 40
    family = {name: TicketMaker.new(tenant, at=T0) for name in ("running", "answered", "late")}
    await sla.send(parent.opened(), *(t.opened() for t in family.values()))
    await sla.send(family["answered"].comment(T0 + 0.25 * H))
    # The 1 h first response is due for every unanswered ticket (the parent and "running"
    # too), but only "late" and the parent are asked: "running" gets its own merge first.
    await sla.send(family["running"].merge(T0 + 0.5 * H, into=parent))
    sla.manual.set(T0 + 1.5 * H)
    assert (await Scheduler(sla.service).run_once()).fired > 0
    for name in ("answered", "late"):
        await sla.send(family[name].merge(T0 + 2 * H, into=parent))
    return parent, family


async def test_a_merge_publishes_one_cancelled_event_per_running_clock(
    sla: Sla, tenant: str
) -> None:
    parent, family = await _merged_family(sla, tenant)

    cancelled = await _cancelled(sla)
    assert Counter((c.ticket.ticket_id, c.target_kind) for c in cancelled) == Counter(
        {
            (family["running"].id, FIRST): 1,
            (family["running"].id, RESOLUTION): 1,
            # Met before the merge: only its resolution clock ends with no outcome.
            (family["answered"].id, RESOLUTION): 1,
            # Breached before the merge: the breach stands; only resolution is cancelled.
            (family["late"].id, RESOLUTION): 1,
        }
    )
    for event in cancelled:
        assert event.reason == sev.SLA_CANCEL_REASON_MERGED
        assert event.merged_into_ticket_id == parent.id
        assert event.merged_into_ticket_number == 40
        assert event.clock.state == pb.SLA_STATE_CANCELLED
    running = [c for c in cancelled if c.ticket.ticket_id == family["running"].id]
    assert {c.cancel_time.ToDatetime(tzinfo=UTC) for c in running} == {T0 + 0.5 * H}
    assert {c.due_time.ToDatetime(tzinfo=UTC) for c in running} == {T0 + H, T0 + 4 * H}
    # Same stream, subject naming and ordering key as every sla.* event.
    async with sla.db.system_transaction() as session:
        rows = (
            await session.execute(select(outbox.c.envelope).where(outbox.c.type == "sla.cancelled"))
        ).all()
    envelopes = [Envelope.FromString(r.envelope) for r in rows]
    assert {e.producer for e in envelopes} == {"sla"}
    for envelope in envelopes:
        assert envelope.ordering_key in {t.id for t in family.values()}
        assert envelope_subject(envelope).startswith(f"triage.sla.cancelled.{tenant}.")


async def test_a_redelivered_merge_publishes_nothing_more(sla: Sla, tenant: str) -> None:
    await _policy(sla, tenant)
    parent = TicketMaker.new(tenant, at=T0)
    member = TicketMaker.new(tenant, at=T0)
    await sla.send(parent.opened(), member.opened())
    merge = member.merge(T0 + 0.5 * H, into=parent)
    await sla.send(merge)
    assert len(await _cancelled(sla)) == 2

    # The same event again under a new Nats-Msg-Id (past JetStream's dedup window: only
    # the inbox stands between), and the merge announced a second time as a new event.
    await sla.bus.publish_raw(
        envelope_subject(merge), merge.SerializeToString(), event_id=str(uuid.uuid4())
    )
    await sla.send(member.merge(T0 + 0.75 * H, into=parent))
    # A later event of the same ticket (same partition, in order): handled after both.
    await sla.send(member.comment(T0 + H))
    assert await group_pending(sla.bus.js, "TRIAGE_TICKET", events.TICKETS_DURABLE) == 0

    assert len(await _cancelled(sla)) == 2


async def test_breaches_show_when_a_merge_cancelled_the_clock(
    sla: Sla, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parent, family = await _merged_family(sla, tenant)
    late = family["late"]
    port = await sla.serve()

    async with open_channel(f"127.0.0.1:{port}") as channel:
        reply = await SlaServiceStub(channel).ListBreaches(
            api.ListBreachesRequest(page_size=50), metadata=token(tenant, "sla:read")
        )
    by_ticket = {(b.ticket.ticket_id, b.target_kind): b for b in reply.breaches}
    assert set(by_ticket) == {(late.id, FIRST), (parent.id, FIRST)}
    merged = by_ticket[(late.id, FIRST)]
    assert merged.cancel_time.ToDatetime(tzinfo=UTC) == T0 + 2 * H
    assert not merged.HasField("met_time")
    assert not by_ticket[(parent.id, FIRST)].HasField("cancel_time")

    code, out, err = await _triage(capsys, port, tenant, "sla", "breaches")
    assert code == 0, err
    header, *lines = [line for line in out.splitlines() if line.strip()]
    assert header.split()[-1].lower() == "cancelled"
    (late_line,) = [line for line in lines if late.id in line]
    assert late_line.rstrip().endswith((T0 + 2 * H).strftime("%Y-%m-%d %H:%M:%SZ"))
    (parent_line,) = [line for line in lines if parent.id in line]
    assert not parent_line.rstrip().endswith((T0 + 2 * H).strftime("%H:%M:%SZ"))
    code, out, err = await _triage(capsys, port, tenant, "sla", "breaches", "--json")
    assert code == 0, err
    listed = {b["ticket"]["ticket_id"]: b for b in json.loads(out)["breaches"]}
    assert listed[late.id]["cancel_time"].startswith("2026-03-02T14:00:00")
    assert "cancel_time" not in listed[parent.id]
