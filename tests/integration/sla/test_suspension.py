"""A suspended tenant's SLA timers wait (nothing is lost) and fire, marked late, on resume.

Suspension does not stop the SLA clock itself: the tickets keep ageing in business time,
so a threshold that came due while the tenant was suspended fires once it is resumed.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.sla.workers.timers import Scheduler
from tests.integration.sla.harness import T0, Sla, TicketMaker
from tests.integration.sla.test_timers import calendar_time_policy
from triage.runtime.access_list import SUSPENDED, AccessList
from triage.sla.v1 import events_pb2 as sev

pytestmark = pytest.mark.integration


async def test_a_suspended_tenants_timers_wait_and_fire_late_on_resume(
    sla: Sla, tenant: str
) -> None:
    other = str(uuid.uuid4())
    for t in (tenant, other):
        await calendar_time_policy(sla, t, timedelta(hours=1), timedelta(hours=4), 50)
    mine, theirs = TicketMaker.new(tenant, at=T0), TicketMaker.new(other, at=T0)
    await sla.send(mine.opened(), theirs.opened())
    access = AccessList()
    access.apply(f"{SUSPENDED}{tenant}", b"1")
    scheduler = Scheduler(sla.service, paused=access.suspended_now)

    sla.manual.set(T0 + timedelta(minutes=40))
    assert (await scheduler.run_once()).fired == 1  # the other tenant's only
    (fired,) = await sla.emitted("sla.threshold", sev.SlaThreshold)
    assert fired.ticket.ticket_id == theirs.id
    # Nothing due for the scheduler to spin on while the tenant is suspended.
    assert await sla.service.next_due(access.suspended_now()) == T0 + timedelta(hours=1)
    assert (await scheduler.run_once()).fired == 0

    access.apply(f"{SUSPENDED}{tenant}", None)  # resumed
    assert (await scheduler.run_once()).fired == 1
    _, resumed = await sla.emitted("sla.threshold", sev.SlaThreshold)
    assert resumed.ticket.ticket_id == mine.id and resumed.late
    assert resumed.threshold_time.ToDatetime().replace(tzinfo=T0.tzinfo) == T0 + timedelta(
        minutes=30
    )
