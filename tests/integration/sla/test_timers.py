"""Durable timers: on the instant, once across replicas, and once (late) after a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import timestamp_pb2

from services.sla.domain.policy import PolicySpec, ScopeKind, Target, Targets, ThresholdRule
from services.sla.events import ticket_change
from services.sla.service.time import SystemTime
from services.sla.workers.timers import Scheduler
from tests.integration.sla.harness import T0, Sla, TicketMaker, poll
from tests.integration.sla.test_clocks import _call
from triage.sla.v1 import events_pb2 as sev

pytestmark = pytest.mark.integration


async def calendar_time_policy(
    sla: Sla, tenant: str, first_response: timedelta, resolution: timedelta, *percents: int
) -> None:
    spec = PolicySpec(
        id=str(uuid.uuid4()),
        name="24x7",
        scope=ScopeKind.TENANT_DEFAULT,
        targets=(
            Targets(3, Target(first_response, business_time=False), Target(resolution, False)),
        ),
        thresholds=tuple(
            ThresholdRule(p, actions=({"escalate": {"raise_levels": 1}},) if p == 75 else ())
            for p in percents
        ),
    )
    await _call(sla.service.create_policy, tenant_id=tenant, spec=spec, problems=[])


def _when(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def test_a_timer_fires_within_one_second_of_its_instant(fresh_db: str, nats_url: str) -> None:
    sla = await Sla.start(fresh_db, nats_url, time_source=SystemTime())
    try:
        tenant = str(uuid.uuid4())
        await calendar_time_policy(sla, tenant, timedelta(seconds=3), timedelta(hours=1), 50)
        sla.start_scheduler()
        ticket = TicketMaker.new(tenant, at=datetime.now(UTC))
        await sla.send(ticket.opened())

        async def fired() -> bool:
            return bool(await sla.emitted("sla.threshold", sev.SlaThreshold))

        await poll(fired, timeout=10)
        observed = datetime.now(UTC)
        (threshold,) = await sla.emitted("sla.threshold", sev.SlaThreshold)
        due = _when(threshold.threshold_time)
        assert due == _when(ticket.ticket.create_time) + timedelta(seconds=1.5)
        lateness = (_when(threshold.fire_time) - due).total_seconds()
        assert 0 <= lateness < 1.0, lateness
        assert (observed - due).total_seconds() < 1.5
        assert not threshold.late
        assert threshold.percent == 50 and threshold.target_kind == 1
    finally:
        await sla.stop()


async def test_restart_mid_wait_fires_the_missed_threshold_once_marked_late(
    sla: Sla, tenant: str
) -> None:
    await calendar_time_policy(sla, tenant, timedelta(hours=1), timedelta(hours=4), 50, 75)
    ticket = TicketMaker.new(tenant, at=T0)
    scheduler = sla.start_scheduler()
    await sla.send(ticket.opened())
    sla.manual.set(T0 + timedelta(minutes=20))
    assert (await scheduler.run_once()).fired == 0

    await sla.stop_scheduler()
    sla.manual.set(T0 + timedelta(minutes=50))
    sla.start_scheduler()

    async def fired_once() -> bool:
        return len(await sla.emitted("sla.threshold", sev.SlaThreshold)) == 2

    await poll(fired_once)
    fifty, seventy_five = await sla.emitted("sla.threshold", sev.SlaThreshold)
    assert (fifty.percent, seventy_five.percent) == (50, 75)
    assert _when(fifty.threshold_time) == T0 + timedelta(minutes=30)
    assert _when(seventy_five.threshold_time) == T0 + timedelta(minutes=45)
    assert fifty.late and seventy_five.late
    assert _when(fifty.fire_time) == T0 + timedelta(minutes=50)
    assert [a.escalate.raise_levels for a in seventy_five.actions] == [1]

    # Running on: the breach fires on its instant once the clock reaches it, not late.
    sla.manual.set(T0 + timedelta(hours=1))

    async def breached() -> bool:
        return bool(await sla.emitted("sla.breached", sev.SlaBreached))

    await poll(breached)
    (breach,) = await sla.emitted("sla.breached", sev.SlaBreached)
    assert not breach.late and _when(breach.due_time) == T0 + timedelta(hours=1)
    assert len(await sla.emitted("sla.threshold", sev.SlaThreshold)) == 2
    audit = await sla.service.audit(tenant_id=tenant, ticket_id=ticket.id, after_seq=0, limit=50)
    assert [(e.percent, e.late) for _, e in audit if e.percent] == [
        (50, True),
        (75, True),
        (100, False),
    ]


async def test_two_replicas_never_double_fire(
    sla: Sla, tenant: str, fresh_db: str, nats_url: str
) -> None:
    await calendar_time_policy(sla, tenant, timedelta(hours=1), timedelta(hours=2), 50, 75, 90)
    tickets = [TicketMaker.new(tenant, at=T0 + timedelta(seconds=i)) for i in range(200)]
    async with sla.db.transaction(tenant) as session:
        for ticket in tickets:
            change = ticket_change(ticket.opened())
            assert change is not None
            await sla.service.on_ticket_change(session, tenant, change)
    other = await Sla.start(
        fresh_db, nats_url, time_source=sla.time, consume=False, fresh_streams=False
    )
    try:
        replicas = [Scheduler(sla.service, batch_size=40), Scheduler(other.service, batch_size=40)]
        sla.manual.set(T0 + timedelta(hours=3))
        while True:
            results = await asyncio.gather(*(r.run_once() for r in replicas))
            if all(r.claimed == 0 for r in results):
                break
        thresholds = await sla.emitted("sla.threshold", sev.SlaThreshold)
        breaches = await sla.emitted("sla.breached", sev.SlaBreached)
        assert len(thresholds) == 200 * 2 * 3
        assert len(breaches) == 200 * 2
        keys = Counter((t.ticket.ticket_id, t.target_kind, t.percent) for t in thresholds)
        assert max(keys.values()) == 1
        assert sum(r.fired for r in replicas) == 1600
        assert all(r.fired > 0 for r in replicas), [r.fired for r in replicas]
    finally:
        await other.stop()
