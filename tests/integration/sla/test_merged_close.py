"""A ticket merged into another (``ticket.closed`` with ``CLOSE_REASON_MERGED``) on a real
PostgreSQL and NATS: its SLA is cancelled, not met; a breach before the merge stays; no
timer fires for it afterwards."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.sla.convert import ticket_sla_to_proto
from services.sla.domain.clock import ClockState, TargetKind
from services.sla.domain.policy import PolicySpec, ScopeKind, Target, Targets, ThresholdRule
from services.sla.domain.ticket import AuditKind, BreachFilter
from services.sla.models import timers
from services.sla.workers.timers import Scheduler
from tests.integration.sla.harness import T0, Sla, TicketMaker
from tests.integration.sla.test_clocks import _call, clocks
from triage.sla.v1 import events_pb2 as sev
from triage.sla.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


async def _policy(sla: Sla, tenant: str) -> None:
    """P3: first response 1 h, resolution 4 h, wall-clock; warnings at 50 and 100 %."""
    spec = PolicySpec(
        id=str(uuid.uuid4()),
        name="24x7",
        scope=ScopeKind.TENANT_DEFAULT,
        targets=(Targets(3, Target(H, business_time=False), Target(4 * H, False)),),
        thresholds=(ThresholdRule(50), ThresholdRule(100)),
    )
    await _call(sla.service.create_policy, tenant_id=tenant, spec=spec, problems=[])


async def _timer_count(sla: Sla, ticket_id: str) -> int:
    async with sla.db.system_transaction() as session:
        count = (
            await session.execute(
                select(func.count()).select_from(timers).where(timers.c.ticket_id == ticket_id)
            )
        ).scalar_one()
    return int(count)


async def test_a_merged_ticket_is_neither_met_nor_breached(sla: Sla, tenant: str) -> None:
    await _policy(sla, tenant)
    parent = TicketMaker.new(tenant, at=T0)
    member = TicketMaker.new(tenant, at=T0)
    await sla.send(parent.opened(), member.opened())
    await sla.send(member.merge(T0 + 0.25 * H, into=parent))

    got = await clocks(sla, tenant, member.id)
    assert {k: r.clock.state for k, r in got.items()} == {
        TargetKind.FIRST_RESPONSE: ClockState.CANCELLED,
        TargetKind.RESOLUTION: ClockState.CANCELLED,
    }
    assert all(r.met_at is None and r.breached_at is None for r in got.values())
    view, records, now = await sla.service.ticket_sla(tenant_id=tenant, ticket_id=member.id)
    assert view.closed
    reported = ticket_sla_to_proto(view, records, now + 10 * H)
    assert [c.state for c in reported.clocks] == [pb.SLA_STATE_CANCELLED] * 2
    assert not any(c.HasField("met_time") for c in reported.clocks)
    assert await sla.emitted("sla.met", sev.SlaMet) == []
    found = await sla.service.breaches(
        tenant_id=tenant, filters=BreachFilter(), after=None, limit=50
    )
    assert found == []
    audit = await sla.service.audit(tenant_id=tenant, ticket_id=member.id, after_seq=0, limit=50)
    cancelled = [e for _, e in audit if e.kind is AuditKind.CANCELLED]
    assert len(cancelled) == 2
    assert all(e.after_state is ClockState.CANCELLED for e in cancelled)
    assert all(f"merged into #{parent.ticket.number}" in e.cause for e in cancelled)


async def test_a_breach_before_the_merge_still_counts(sla: Sla, tenant: str) -> None:
    await _policy(sla, tenant)
    parent = TicketMaker.new(tenant, at=T0)
    member = TicketMaker.new(tenant, at=T0)
    await sla.send(parent.opened(), member.opened())
    scheduler = Scheduler(sla.service)
    sla.manual.set(T0 + 1.5 * H)
    assert (await scheduler.run_once()).fired > 0
    await sla.send(member.merge(T0 + 2 * H, into=parent))

    got = await clocks(sla, tenant, member.id)
    first = got[TargetKind.FIRST_RESPONSE]
    assert first.clock.state is ClockState.CANCELLED
    assert first.reported_state(T0 + 10 * H) is ClockState.BREACHED
    assert first.met_at is None
    assert got[TargetKind.RESOLUTION].reported_state(T0 + 10 * H) is ClockState.CANCELLED
    found = await sla.service.breaches(
        tenant_id=tenant, filters=BreachFilter(), after=None, limit=50
    )
    assert {(b.ticket.ticket_id, b.kind) for b in found} == {
        (member.id, TargetKind.FIRST_RESPONSE),
        (parent.id, TargetKind.FIRST_RESPONSE),
    }
    assert all(b.met_at is None for b in found)
    assert await sla.emitted("sla.met", sev.SlaMet) == []


async def test_no_sla_notification_fires_after_the_merge(sla: Sla, tenant: str) -> None:
    await _policy(sla, tenant)
    parent = TicketMaker.new(tenant, at=T0)
    early = TicketMaker.new(tenant, at=T0)
    overdue = TicketMaker.new(tenant, at=T0)
    await sla.send(parent.opened(), early.opened(), overdue.opened())
    await sla.send(early.merge(T0 + 0.25 * H, into=parent))
    # Past its 1 h first response, with no timer run yet: merged before anyone was told.
    await sla.send(overdue.merge(T0 + 2 * H, into=parent))
    merged = {early.id, overdue.id}
    assert [await _timer_count(sla, t) for t in sorted(merged)] == [0, 0]

    scheduler = Scheduler(sla.service)
    sla.manual.set(T0 + 10 * H)
    await scheduler.run_once()
    thresholds = await sla.emitted("sla.threshold", sev.SlaThreshold)
    breaches = await sla.emitted("sla.breached", sev.SlaBreached)
    # The parent's clocks fire as usual; the merged tickets' timers never do. The merge
    # announces no met target; the overdue ticket's breach, which happened before its
    # merge, is announced once, late and with no escalation actions (as it would have
    # been had the scheduler run before the merge arrived).
    assert {t.ticket.ticket_id for t in thresholds} == {parent.id}
    late = [b for b in breaches if b.ticket.ticket_id == overdue.id]
    assert [(b.target_kind, b.late, list(b.actions)) for b in late] == [
        (pb.SLA_TARGET_KIND_FIRST_RESPONSE, True, [])
    ]
    assert {b.ticket.ticket_id for b in breaches} == {parent.id, overdue.id}
    assert await sla.emitted("sla.met", sev.SlaMet) == []
    assert [await _timer_count(sla, t) for t in sorted(merged)] == [0, 0]
    # The overdue one's breach is still on record.
    got = await clocks(sla, tenant, overdue.id)
    assert got[TargetKind.FIRST_RESPONSE].reported_state(T0 + 10 * H) is ClockState.BREACHED
