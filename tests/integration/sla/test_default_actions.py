"""Default thresholds: the breach asks notify for the tenant's default channels."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.sla.domain.policy import PolicySpec, ScopeKind, Target, Targets
from tests.integration.sla.harness import T0, Sla, TicketMaker, poll
from tests.integration.sla.test_clocks import _call
from triage.sla.v1 import events_pb2 as sev
from triage.sla.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration

NOTIFY_DEFAULTS = pb.ThresholdAction(notify=pb.NotifyAction(default_channels=True))


async def test_the_built_in_default_policy_breach_notifies_default_channels(
    sla: Sla, tenant: str
) -> None:
    ticket = TicketMaker.new(tenant, at=T0, priority=1)  # P1: 15 min 24x7 in the preset
    scheduler = sla.start_scheduler()
    await sla.send(ticket.opened())
    sla.manual.set(T0 + timedelta(minutes=15))
    await scheduler.run_once()

    async def breached() -> bool:
        return bool(await sla.emitted("sla.breached", sev.SlaBreached))

    await poll(breached)
    [breach] = await sla.emitted("sla.breached", sev.SlaBreached)
    assert breach.target_kind == pb.SLA_TARGET_KIND_FIRST_RESPONSE
    assert list(breach.actions) == [NOTIFY_DEFAULTS]
    thresholds = await sla.emitted("sla.threshold", sev.SlaThreshold)
    assert sorted(t.percent for t in thresholds) == [50, 75, 90]
    assert all(not t.actions for t in thresholds)


async def test_a_policy_created_without_thresholds_takes_the_default_actions(
    sla: Sla, tenant: str
) -> None:
    spec = PolicySpec(
        id=str(uuid.uuid4()),
        name="24x7",
        scope=ScopeKind.TENANT_DEFAULT,
        targets=(Targets(3, None, Target(timedelta(hours=4), business_time=False)),),
        thresholds=(),
    )
    stored = await _call(sla.service.create_policy, tenant_id=tenant, spec=spec, problems=[])
    by_percent = {r.percent: r.actions for r in stored.value.thresholds}
    assert by_percent == {
        50: (),
        75: (),
        90: (),
        100: ({"notify": {"default_channels": True}},),
    }
