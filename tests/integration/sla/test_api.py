"""SlaService over gRPC: CRUD, validation, scopes, tenancy, idempotency, clocks, breaches."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.sla.harness import T0, Sla, TicketMaker, token
from triage.runtime.clients import open_channel
from triage.runtime.events import to_timestamp
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.types.v1 import time_pb2

if TYPE_CHECKING:
    from triage.sla.v1.sla_service_pb2_grpc import SlaServiceAsyncStub

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub(sla: Sla) -> AsyncIterator[SlaServiceAsyncStub]:
    port = await sla.serve()
    async with open_channel(f"127.0.0.1:{port}") as channel:
        yield SlaServiceStub(channel)


def office(name: str = "Office", zone: str = "Europe/London") -> pb.Calendar:
    return pb.Calendar(
        display_name=name,
        time_zone=zone,
        shifts=[
            time_pb2.WeeklyTimeRange(
                days=[time_pb2.DayOfWeek.ValueType(d) for d in range(1, 6)],
                start=time_pb2.TimeOfDay(hours=9),
                end=time_pb2.TimeOfDay(hours=17),
            )
        ],
    )


def minutes(n: int) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(minutes=n))
    return d


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    return []


async def test_calendar_crud_with_holidays_and_idempotency(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    request_id = str(uuid.uuid4())
    created = await stub.CreateCalendar(
        api.CreateCalendarRequest(request_id=request_id, calendar=office()), metadata=auth
    )
    again = await stub.CreateCalendar(
        api.CreateCalendarRequest(request_id=request_id, calendar=office()), metadata=auth
    )
    assert again.calendar.id == created.calendar.id
    calendar = created.calendar
    assert (calendar.version, calendar.etag, calendar.tenant_id) == (1, "1", tenant)

    added = await stub.AddHoliday(
        api.AddHolidayRequest(
            calendar_id=calendar.id,
            holiday=pb.Holiday(
                display_name="Christmas", yearly=time_pb2.MonthDay(month=12, day=25)
            ),
        ),
        metadata=auth,
    )
    assert added.calendar.version == 2 and added.holiday.id
    removed = await stub.RemoveHoliday(
        api.RemoveHolidayRequest(calendar_id=calendar.id, holiday_id=added.holiday.id),
        metadata=auth,
    )
    assert not removed.calendar.holidays

    changed = pb.Calendar(id=calendar.id, etag="3", time_zone="America/New_York")
    updated = await stub.UpdateCalendar(
        api.UpdateCalendarRequest(
            calendar=changed, update_mask=field_mask_pb2.FieldMask(paths=["time_zone"])
        ),
        metadata=auth,
    )
    assert updated.calendar.time_zone == "America/New_York"
    assert updated.calendar.display_name == "Office"
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await stub.UpdateCalendar(
            api.UpdateCalendarRequest(
                calendar=changed, update_mask=field_mask_pb2.FieldMask(paths=["time_zone"])
            ),
            metadata=auth,
        )
    assert stale.value.code() == grpc.StatusCode.ABORTED

    listed = await stub.ListCalendars(api.ListCalendarsRequest(), metadata=auth)
    assert [c.id for c in listed.calendars] == [calendar.id]
    await stub.DeleteCalendar(api.DeleteCalendarRequest(calendar_id=calendar.id), metadata=auth)
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetCalendar(api.GetCalendarRequest(calendar_id=calendar.id), metadata=auth)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_input_is_invalid_argument_with_field_violations(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    bad = office(zone="Mars/Olympus")
    bad.shifts[0].start.hours = 23
    bad.shifts[0].start.minutes = 30
    bad.shifts[0].end.hours = 24
    bad.shifts[0].end.minutes = 30
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCalendar(api.CreateCalendarRequest(calendar=bad), metadata=auth)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(caught.value)) >= {"calendar.time_zone", "calendar.shifts[0].end"}
    # An hour of 25 breaks the contract itself: rejected before the domain checks run.
    bad.shifts[0].start.hours = 25
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCalendar(api.CreateCalendarRequest(calendar=bad), metadata=auth)
    assert set(violations(caught.value)) == {"calendar.shifts[0].start.hours"}

    policy = pb.SlaPolicy(
        display_name="Bad",
        scope=pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_TENANT_DEFAULT),
        targets=[
            pb.PriorityTargets(
                priority=tickets_pb.PRIORITY_P3,
                resolution=pb.SlaTarget(duration=minutes(-5), business_time=False),
            )
        ],
        thresholds=[pb.Threshold(percent=150)],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateSlaPolicy(api.CreateSlaPolicyRequest(sla_policy=policy), metadata=auth)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(caught.value)) == {
        "sla_policy.targets[0].resolution.duration",
        "sla_policy.thresholds[0].percent",
    }


async def test_scopes_and_tenants(stub: SlaServiceAsyncStub, tenant: str) -> None:
    created = await stub.CreateCalendar(
        api.CreateCalendarRequest(calendar=office()), metadata=token(tenant, "sla:write")
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.CreateCalendar(
            api.CreateCalendarRequest(calendar=office("Other")), metadata=token(tenant, "sla:read")
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    read = await stub.GetCalendar(
        api.GetCalendarRequest(calendar_id=created.calendar.id), metadata=token(tenant, "sla:read")
    )
    assert read.calendar.id == created.calendar.id
    stranger = token(str(uuid.uuid4()), "sla:write")
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await stub.GetCalendar(
            api.GetCalendarRequest(calendar_id=created.calendar.id), metadata=stranger
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await stub.DeleteCalendar(
            api.DeleteCalendarRequest(calendar_id=created.calendar.id), metadata=stranger
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


async def test_policies_ticket_sla_breaches_and_audit(
    sla: Sla, stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    calendar = (
        await stub.CreateCalendar(
            api.CreateCalendarRequest(calendar=office(zone="UTC")), metadata=auth
        )
    ).calendar
    policy = (
        await stub.CreateSlaPolicy(
            api.CreateSlaPolicyRequest(
                sla_policy=pb.SlaPolicy(
                    display_name="Acme gold",
                    scope=pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_CLIENT, client_id="acme"),
                    calendar_id=calendar.id,
                    targets=[
                        pb.PriorityTargets(
                            priority=tickets_pb.PRIORITY_P3,
                            first_response=pb.SlaTarget(duration=minutes(30), business_time=True),
                            resolution=pb.SlaTarget(duration=minutes(120), business_time=True),
                        )
                    ],
                )
            ),
            metadata=auth,
        )
    ).sla_policy
    assert [t.percent for t in policy.thresholds] == [50, 75, 90, 100]
    assert list(policy.pause_statuses) == [4]
    with pytest.raises(grpc.aio.AioRpcError) as in_use:
        await stub.DeleteCalendar(api.DeleteCalendarRequest(calendar_id=calendar.id), metadata=auth)
    assert in_use.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    acme = [TicketMaker.new(tenant, at=T0, client_id="acme") for _ in range(3)]
    other = TicketMaker.new(tenant, at=T0, client_id="globex")
    await sla.send(*(t.opened() for t in acme), other.opened())
    got = await stub.GetTicketSla(api.GetTicketSlaRequest(ticket_id=acme[0].id), metadata=auth)
    assert got.ticket_sla.policy_id == policy.id
    resolution = got.ticket_sla.clocks[1]
    assert resolution.state == pb.SLA_STATE_RUNNING
    assert resolution.remaining.ToTimedelta() == timedelta(minutes=120)
    assert resolution.percent_used == 0
    fallback = await stub.GetTicketSla(api.GetTicketSlaRequest(ticket_id=other.id), metadata=auth)
    assert fallback.ticket_sla.policy_id == ""

    sla.manual.set(T0 + timedelta(minutes=90))
    got = await stub.GetTicketSla(api.GetTicketSlaRequest(ticket_id=acme[0].id), metadata=auth)
    assert got.ticket_sla.clocks[1].percent_used == 75.0
    assert got.ticket_sla.clocks[1].remaining.ToTimedelta() == timedelta(minutes=30)

    sla.manual.set(T0 + timedelta(hours=3))
    from services.sla.workers.timers import Scheduler

    await Scheduler(sla.service).run_once()
    first = await stub.ListBreaches(
        api.ListBreachesRequest(page_size=4, since_time=T0_STAMP()), metadata=auth
    )
    assert len(first.breaches) == 4 and first.next_page_token
    rest = await stub.ListBreaches(
        api.ListBreachesRequest(
            page_size=4, since_time=T0_STAMP(), page_token=first.next_page_token
        ),
        metadata=auth,
    )
    everything = [*first.breaches, *rest.breaches]
    # Both targets of the three acme tickets, and globex's first hour under the default preset.
    assert len(everything) == 7 and not rest.next_page_token
    assert len({(b.ticket.ticket_id, b.target_kind) for b in everything}) == 7
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await stub.ListBreaches(
            api.ListBreachesRequest(page_size=4, page_token=first.next_page_token),
            metadata=auth,
        )
    assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    only_acme = await stub.ListBreaches(
        api.ListBreachesRequest(client_id="acme", target_kinds=[pb.SLA_TARGET_KIND_RESOLUTION]),
        metadata=auth,
    )
    assert len(only_acme.breaches) == 3

    audit = await stub.ListTicketSlaAudit(
        api.ListTicketSlaAuditRequest(ticket_id=acme[0].id), metadata=auth
    )
    kinds = [e.kind for e in audit.audit_entries]
    assert kinds.count(pb.SLA_AUDIT_KIND_STARTED) == 2
    assert kinds.count(pb.SLA_AUDIT_KIND_THRESHOLD) == 6
    assert kinds.count(pb.SLA_AUDIT_KIND_BREACHED) == 2
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.GetTicketSla(
            api.GetTicketSlaRequest(ticket_id=acme[0].id),
            metadata=token(str(uuid.uuid4()), "sla:read"),
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def T0_STAMP() -> timestamp_pb2.Timestamp:
    return to_timestamp(T0)
