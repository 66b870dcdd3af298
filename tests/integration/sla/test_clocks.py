"""Clocks driven by real ticket events: start, pause, retarget, respond, close, reopen."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.sla.domain.calendar_spec import CalendarSpec, WeeklyShift
from services.sla.domain.clock import ClockState, TargetKind
from services.sla.domain.policy import (
    PolicySpec,
    ScopeKind,
    Target,
    Targets,
)
from services.sla.domain.stored import Stored
from services.sla.domain.ticket import AuditKind, ClockRecord
from tests.integration.sla.harness import Sla, TicketMaker, tenant_changed
from triage.runtime.idempotency import IdempotentReply
from triage.sla.v1 import events_pb2 as sev
from triage.tickets.v1 import resources_pb2 as tpb

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def ny(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


class _Raw:
    """A pass-through 'response' so tests can call the service without protobuf."""


async def make_calendar(sla: Sla, tenant: str) -> str:
    spec = CalendarSpec(
        id="11111111-1111-4111-8111-" + tenant[-12:],
        name="NY office",
        zone="America/New_York",
        shifts=(WeeklyShift((1, 2, 3, 4, 5), ny(2, 9).time(), ny(2, 17).time()),),
    )
    await _call(sla.service.create_calendar, tenant_id=tenant, spec=spec, problems=[])
    return spec.id


async def make_policy(
    sla: Sla,
    tenant: str,
    calendar_id: str,
    *,
    targets: tuple[Targets, ...],
    scope: ScopeKind = ScopeKind.TENANT_DEFAULT,
    client_id: str = "",
    queue: str = "",
    name: str = "Standard",
) -> PolicySpec:
    import uuid

    spec = PolicySpec(
        id=str(uuid.uuid4()),
        name=name,
        scope=scope,
        client_id=client_id,
        queue=queue,
        calendar_id=calendar_id,
        targets=targets,
        thresholds=(),
        pause_statuses=frozenset(),
    )
    await _call(sla.service.create_policy, tenant_id=tenant, spec=spec, problems=[])
    return spec


async def _call(method: Any, **kwargs: Any) -> Any:
    from google.protobuf import wrappers_pb2

    kept: list[object] = []

    def render(result: object) -> wrappers_pb2.StringValue:
        kept.append(result)
        return wrappers_pb2.StringValue()

    await method(**kwargs, answer=IdempotentReply("t", "", wrappers_pb2.StringValue, render))
    return kept[0]


async def clocks(sla: Sla, tenant: str, ticket_id: str) -> dict[TargetKind, ClockRecord]:
    _, records, _ = await sla.service.ticket_sla(tenant_id=tenant, ticket_id=ticket_id)
    return {r.kind: r for r in records}


STANDARD = (
    Targets(3, Target(2 * H), Target(8 * H)),
    Targets(1, Target(15 * M, business_time=False), Target(H, business_time=False)),
)


async def test_clocks_start_with_the_policy_snapshotted(sla: Sla, tenant: str) -> None:
    calendar_id = await make_calendar(sla, tenant)
    policy = await make_policy(sla, tenant, calendar_id, targets=STANDARD)
    first = TicketMaker.new(tenant, at=ny(6, 15))
    await sla.send(first.opened())

    got = await clocks(sla, tenant, first.id)
    assert got[TargetKind.FIRST_RESPONSE].clock.due_at == ny(6, 17)
    assert got[TargetKind.RESOLUTION].clock.due_at == ny(9, 15)
    assert got[TargetKind.RESOLUTION].clock.state is ClockState.RUNNING
    view, _, _ = await sla.service.ticket_sla(tenant_id=tenant, ticket_id=first.id)
    assert (view.snapshot.policy.id, view.snapshot.policy.version) == (policy.id, 1)
    assert view.snapshot.calendar.id == calendar_id

    # A later policy change does not touch running clocks; new tickets get it.
    changed = dataclasses.replace(policy, targets=(Targets(3, None, Target(H)),))
    await _call(
        sla.service.update_policy,
        tenant_id=tenant,
        patch=changed,
        fields=["targets"],
        etag="1",
        problems=[],
    )
    second = TicketMaker.new(tenant, at=ny(6, 15))
    await sla.send(second.opened())
    assert (await clocks(sla, tenant, first.id))[TargetKind.RESOLUTION].clock.due_at == ny(9, 15)
    later = await clocks(sla, tenant, second.id)
    assert set(later) == {TargetKind.RESOLUTION}
    assert later[TargetKind.RESOLUTION].clock.due_at == ny(6, 16)
    started = await sla.emitted("sla.started", sev.SlaStarted)
    assert [s.ticket_sla.ticket.ticket_id for s in started] == [first.id, second.id]
    assert started[1].ticket_sla.policy_version == 2


async def test_default_policy_is_the_itil_preset_in_the_tenant_zone(sla: Sla, tenant: str) -> None:
    await sla.send(tenant_changed(tenant, "America/New_York"))
    p3 = TicketMaker.new(tenant, at=ny(6, 16))
    p1 = TicketMaker.new(tenant, at=ny(6, 16), priority=1)
    await sla.send(p3.opened(), p1.opened())

    got = await clocks(sla, tenant, p3.id)
    # P3: 60 business minutes / 1440 business minutes, Mon-Fri 09-17 New York.
    assert got[TargetKind.FIRST_RESPONSE].clock.due_at == ny(6, 17)
    assert got[TargetKind.RESOLUTION].clock.due_at == ny(11, 16)
    urgent = await clocks(sla, tenant, p1.id)
    assert urgent[TargetKind.FIRST_RESPONSE].clock.due_at == ny(6, 16, 15)
    assert urgent[TargetKind.RESOLUTION].clock.due_at == ny(6, 17)


async def test_pause_and_resume_across_a_weekend(sla: Sla, tenant: str) -> None:
    calendar_id = await make_calendar(sla, tenant)
    await make_policy(sla, tenant, calendar_id, targets=STANDARD)
    await _call(
        sla.service.update_policy,
        tenant_id=tenant,
        patch=PolicySpec(
            id=(await _only_policy(sla, tenant)),
            name="",
            scope=ScopeKind.TENANT_DEFAULT,
            pause_statuses=frozenset({tpb.TICKET_STATUS_AWAITING_CUSTOMER}),
        ),
        fields=["pause_statuses"],
        etag="",
        problems=[],
    )
    ticket = TicketMaker.new(tenant, at=ny(6, 15))
    await sla.send(ticket.opened())
    await sla.send(ticket.update(ny(6, 16), status=tpb.TICKET_STATUS_AWAITING_CUSTOMER))
    paused = (await clocks(sla, tenant, ticket.id))[TargetKind.RESOLUTION]
    assert paused.clock.state is ClockState.PAUSED
    assert paused.clock.consumed == H
    assert paused.clock.due_at is None

    await sla.send(ticket.update(ny(9, 10), status=tpb.TICKET_STATUS_IN_PROGRESS))
    resumed = (await clocks(sla, tenant, ticket.id))[TargetKind.RESOLUTION]
    assert resumed.clock.state is ClockState.RUNNING
    # 1 h used on Friday; the weekend and Monday 09-10 (paused) never count: 7 h from 10:00.
    assert resumed.clock.due_at == ny(9, 17)
    assert resumed.clock.remaining(ny(9, 12)) == 5 * H

    pauses = await sla.emitted("sla.paused", sev.SlaPaused)
    resumes = await sla.emitted("sla.resumed", sev.SlaResumed)
    assert len(pauses) == 1 and len(resumes) == 1
    assert pauses[0].pause_time.ToDatetime(tzinfo=UTC) == ny(6, 16)
    kinds = {c.kind for c in resumes[0].clocks}
    assert kinds == {1, 2}
    audit = await sla.service.audit(tenant_id=tenant, ticket_id=ticket.id, after_seq=0, limit=50)
    resolution = [e for _, e in audit if e.target_kind is TargetKind.RESOLUTION]
    assert [e.kind for e in resolution] == [AuditKind.STARTED, AuditKind.PAUSED, AuditKind.RESUMED]
    assert resolution[1].cause == "status NEW -> AWAITING_CUSTOMER"
    assert resolution[2].after_due_at == ny(9, 17)


async def _only_policy(sla: Sla, tenant: str) -> str:
    found = await sla.service.list_policies(
        tenant_id=tenant, scope=ScopeKind.UNSPECIFIED, after=None, limit=5
    )
    assert len(found) == 1
    stored: Stored[PolicySpec] = found[0]
    return stored.value.id


async def test_priority_change_recomputes_targets_audited(sla: Sla, tenant: str) -> None:
    calendar_id = await make_calendar(sla, tenant)
    await make_policy(sla, tenant, calendar_id, targets=STANDARD)
    ticket = TicketMaker.new(tenant, at=ny(10, 10))
    await sla.send(ticket.opened())
    before = (await clocks(sla, tenant, ticket.id))[TargetKind.RESOLUTION]
    assert before.clock.due_at == ny(11, 10)

    await sla.send(ticket.update(ny(10, 10, 20), priority=tpb.PRIORITY_P1))
    after = await clocks(sla, tenant, ticket.id)
    assert after[TargetKind.RESOLUTION].clock.target == H
    assert not after[TargetKind.RESOLUTION].clock.business_time
    assert after[TargetKind.RESOLUTION].clock.due_at == ny(10, 11)
    assert after[TargetKind.FIRST_RESPONSE].clock.due_at == ny(10, 10, 15)
    audit = await sla.service.audit(tenant_id=tenant, ticket_id=ticket.id, after_seq=0, limit=50)
    recomputed = [e for _, e in audit if e.kind is AuditKind.RECOMPUTED]
    assert {e.target_kind for e in recomputed} == {TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION}
    resolution = next(e for e in recomputed if e.target_kind is TargetKind.RESOLUTION)
    assert resolution.cause == "priority P3 -> P1"
    assert (resolution.before_due_at, resolution.after_due_at) == (ny(11, 10), ny(10, 11))


async def test_first_response_met_by_a_public_human_comment(sla: Sla, tenant: str) -> None:
    calendar_id = await make_calendar(sla, tenant)
    await make_policy(sla, tenant, calendar_id, targets=STANDARD)
    ticket = TicketMaker.new(tenant, at=ny(10, 10))
    await sla.send(ticket.opened())
    await sla.send(ticket.comment(ny(10, 10, 30), public=False))
    await sla.send(ticket.comment(ny(10, 10, 40), human=False))
    assert (await clocks(sla, tenant, ticket.id))[
        TargetKind.FIRST_RESPONSE
    ].clock.state is ClockState.RUNNING

    await sla.send(ticket.comment(ny(10, 11)))
    got = await clocks(sla, tenant, ticket.id)
    response = got[TargetKind.FIRST_RESPONSE]
    assert response.clock.state is ClockState.MET
    assert response.clock.completed_at == ny(10, 11)
    assert got[TargetKind.RESOLUTION].clock.state is ClockState.RUNNING
    met = await sla.emitted("sla.met", sev.SlaMet)
    assert len(met) == 1 and met[0].target_kind == 1 and not met[0].after_breach
    assert met[0].met_time.ToDatetime(tzinfo=UTC) == ny(10, 11)


async def test_auto_close_records_resolution_then_reopen_resumes(sla: Sla, tenant: str) -> None:
    calendar_id = await make_calendar(sla, tenant)
    await make_policy(sla, tenant, calendar_id, targets=STANDARD)
    ticket = TicketMaker.new(tenant, at=ny(10, 10))
    await sla.send(ticket.opened())
    await sla.send(ticket.comment(ny(10, 10, 30)))
    await sla.send(ticket.close(ny(10, 12), auto=True))
    closed = (await clocks(sla, tenant, ticket.id))[TargetKind.RESOLUTION]
    assert closed.clock.state is ClockState.MET
    assert closed.clock.completed_at == ny(10, 12)
    assert closed.met_at == ny(10, 12)
    met = await sla.emitted("sla.met", sev.SlaMet)
    assert [m.target_kind for m in met] == [1, 2]
    assert met[1].met_time.ToDatetime(tzinfo=UTC) == ny(10, 12)

    await sla.send(ticket.reopen(ny(10, 14)))
    got = await clocks(sla, tenant, ticket.id)
    reopened = got[TargetKind.RESOLUTION]
    assert reopened.clock.state is ClockState.RUNNING
    assert reopened.clock.consumed == 2 * H
    assert reopened.clock.due_at == ny(11, 12)
    assert got[TargetKind.FIRST_RESPONSE].clock.state is ClockState.MET

    # The second close completes it again with every running stretch counted.
    await sla.send(ticket.close(ny(11, 9)))
    final = (await clocks(sla, tenant, ticket.id))[TargetKind.RESOLUTION]
    assert final.clock.state is ClockState.MET
    assert final.clock.consumed == 5 * H


async def test_breached_resolution_is_recorded_at_close(sla: Sla, tenant: str) -> None:
    calendar_id = await make_calendar(sla, tenant)
    await make_policy(sla, tenant, calendar_id, targets=STANDARD)
    ticket = TicketMaker.new(tenant, at=ny(10, 10))
    await sla.send(ticket.opened(), ticket.comment(ny(10, 10, 5)))
    await sla.send(ticket.close(ny(12, 10)))
    record = (await clocks(sla, tenant, ticket.id))[TargetKind.RESOLUTION]
    assert record.clock.state is ClockState.BREACHED
    assert record.breached_at == ny(12, 10)
    assert record.breach_due_at == ny(11, 10)
    breached = await sla.emitted("sla.breached", sev.SlaBreached)
    assert len(breached) == 1 and breached[0].late
    met = await sla.emitted("sla.met", sev.SlaMet)
    assert met[-1].after_breach


async def test_events_out_of_order_still_start_clocks(sla: Sla, tenant: str) -> None:
    calendar_id = await make_calendar(sla, tenant)
    await make_policy(sla, tenant, calendar_id, targets=STANDARD)
    ticket = TicketMaker.new(tenant, at=ny(10, 10))
    opened = ticket.opened()
    comment = ticket.comment(ny(10, 10, 30))
    await sla.send(comment)
    await sla.send(opened)
    got = await clocks(sla, tenant, ticket.id)
    assert got[TargetKind.FIRST_RESPONSE].clock.state is ClockState.MET
    assert got[TargetKind.FIRST_RESPONSE].clock.completed_at == ny(10, 10, 30)
    assert got[TargetKind.RESOLUTION].clock.started_at == ny(10, 10)
    assert len(await sla.emitted("sla.started", sev.SlaStarted)) == 1
