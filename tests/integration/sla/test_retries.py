"""SlaService retries: a request repeated with its ``request_id`` gets the first answer.

Each test repeats a mutation the way a client whose reply got lost would, and checks both
the answer and the stored calendar or policy, so a retry that applied its effect again (or
undid a later change) would fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from tests.integration.sla.harness import Sla, token
from triage.runtime.clients import open_channel
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.types.v1 import time_pb2

if TYPE_CHECKING:
    from triage.sla.v1.sla_service_pb2_grpc import SlaServiceAsyncStub

pytestmark = pytest.mark.integration

Auth = tuple[tuple[str, str | bytes], ...]


@pytest.fixture
async def stub(sla: Sla) -> AsyncIterator[SlaServiceAsyncStub]:
    port = await sla.serve()
    async with open_channel(f"127.0.0.1:{port}") as channel:
        yield SlaServiceStub(channel)


def rid() -> str:
    return str(uuid.uuid4())


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def minutes(n: int) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(minutes=n))
    return d


def office(name: str = "Office") -> pb.Calendar:
    return pb.Calendar(
        display_name=name,
        time_zone="Europe/London",
        shifts=[
            time_pb2.WeeklyTimeRange(
                days=[time_pb2.DayOfWeek.ValueType(d) for d in range(1, 6)],
                start=time_pb2.TimeOfDay(hours=9),
                end=time_pb2.TimeOfDay(hours=17),
            )
        ],
    )


def gold(client_id: str = "acme", name: str = "Acme gold") -> pb.SlaPolicy:
    return pb.SlaPolicy(
        display_name=name,
        scope=pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_CLIENT, client_id=client_id),
        targets=[
            pb.PriorityTargets(
                priority=tickets_pb.PRIORITY_P3,
                resolution=pb.SlaTarget(duration=minutes(120), business_time=False),
            )
        ],
    )


def christmas(name: str = "Christmas", day: int = 25) -> pb.Holiday:
    return pb.Holiday(display_name=name, yearly=time_pb2.MonthDay(month=12, day=day))


async def new_calendar(stub: SlaServiceAsyncStub, auth: Auth, name: str = "Office") -> pb.Calendar:
    reply = await stub.CreateCalendar(
        api.CreateCalendarRequest(calendar=office(name)),
        metadata=auth,
    )
    return reply.calendar


async def all_policies(stub: SlaServiceAsyncStub, auth: Auth) -> list[pb.SlaPolicy]:
    listed = await stub.ListSlaPolicies(
        api.ListSlaPoliciesRequest(page_size=500),
        metadata=auth,
    )
    return list(listed.sla_policies)


async def test_create_sla_policy_retry_returns_the_same_policy(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    request = api.CreateSlaPolicyRequest(request_id=rid(), sla_policy=gold())
    first = await stub.CreateSlaPolicy(request, metadata=auth)
    again = await stub.CreateSlaPolicy(request, metadata=auth)
    assert again == first
    assert [p.id for p in await all_policies(stub, auth)] == [first.sla_policy.id]


async def test_concurrent_create_sla_policy_retries_make_one_policy(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    request = api.CreateSlaPolicyRequest(request_id=rid(), sla_policy=gold())
    replies = await asyncio.gather(
        *(stub.CreateSlaPolicy(request, metadata=auth) for _ in range(6))
    )
    assert all(r == replies[0] for r in replies)
    assert [p.id for p in await all_policies(stub, auth)] == [replies[0].sla_policy.id]


async def test_update_sla_policy_retry_after_a_later_update_keeps_the_later_one(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    created = (
        await stub.CreateSlaPolicy(api.CreateSlaPolicyRequest(sla_policy=gold()), metadata=auth)
    ).sla_policy
    first_request = api.UpdateSlaPolicyRequest(
        request_id=rid(),
        sla_policy=pb.SlaPolicy(id=created.id, display_name="first name"),
        update_mask=mask("display_name"),
    )
    first = await stub.UpdateSlaPolicy(first_request, metadata=auth)
    assert (first.sla_policy.display_name, first.sla_policy.version) == ("first name", 2)
    second = await stub.UpdateSlaPolicy(
        api.UpdateSlaPolicyRequest(
            request_id=rid(),
            sla_policy=pb.SlaPolicy(
                id=created.id, display_name="second name", thresholds=[pb.Threshold(percent=80)]
            ),
            update_mask=mask("display_name", "thresholds"),
        ),
        metadata=auth,
    )
    assert second.sla_policy.version == 3
    again = await stub.UpdateSlaPolicy(first_request, metadata=auth)
    assert again == first
    got = await stub.GetSlaPolicy(api.GetSlaPolicyRequest(sla_policy_id=created.id), metadata=auth)
    assert got.sla_policy.display_name == "second name"
    assert [t.percent for t in got.sla_policy.thresholds] == [80]
    assert (got.sla_policy.version, got.sla_policy.etag) == (3, second.sla_policy.etag)


async def test_update_sla_policy_retry_with_its_etag_is_not_aborted(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    created = (
        await stub.CreateSlaPolicy(api.CreateSlaPolicyRequest(sla_policy=gold()), metadata=auth)
    ).sla_policy
    first_request = api.UpdateSlaPolicyRequest(
        request_id=rid(),
        sla_policy=pb.SlaPolicy(id=created.id, etag=created.etag, display_name="first name"),
        update_mask=mask("display_name"),
    )
    first = await stub.UpdateSlaPolicy(first_request, metadata=auth)
    await stub.UpdateSlaPolicy(
        api.UpdateSlaPolicyRequest(
            request_id=rid(),
            sla_policy=pb.SlaPolicy(id=created.id, etag=first.sla_policy.etag, display_name="x"),
            update_mask=mask("display_name"),
        ),
        metadata=auth,
    )
    assert await stub.UpdateSlaPolicy(first_request, metadata=auth) == first
    got = await stub.GetSlaPolicy(api.GetSlaPolicyRequest(sla_policy_id=created.id), metadata=auth)
    assert (got.sla_policy.display_name, got.sla_policy.version) == ("x", 3)


async def test_delete_sla_policy_retry_answers_as_the_first_time(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    doomed = (
        await stub.CreateSlaPolicy(api.CreateSlaPolicyRequest(sla_policy=gold()), metadata=auth)
    ).sla_policy
    kept = (
        await stub.CreateSlaPolicy(
            api.CreateSlaPolicyRequest(sla_policy=gold("globex", "Globex")), metadata=auth
        )
    ).sla_policy
    request = api.DeleteSlaPolicyRequest(
        request_id=rid(), sla_policy_id=doomed.id, etag=doomed.etag
    )
    first = await stub.DeleteSlaPolicy(request, metadata=auth)
    again = await stub.DeleteSlaPolicy(request, metadata=auth)
    assert again == first == api.DeleteSlaPolicyResponse()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteSlaPolicy(
            api.DeleteSlaPolicyRequest(request_id=rid(), sla_policy_id=doomed.id), metadata=auth
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert [p.id for p in await all_policies(stub, auth)] == [kept.id]


async def test_update_calendar_retry_after_a_later_update_keeps_the_later_one(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    calendar = await new_calendar(stub, auth)
    first_request = api.UpdateCalendarRequest(
        request_id=rid(),
        calendar=pb.Calendar(id=calendar.id, etag=calendar.etag, time_zone="America/New_York"),
        update_mask=mask("time_zone"),
    )
    first = await stub.UpdateCalendar(first_request, metadata=auth)
    assert (first.calendar.time_zone, first.calendar.version) == ("America/New_York", 2)
    second = await stub.UpdateCalendar(
        api.UpdateCalendarRequest(
            request_id=rid(),
            calendar=pb.Calendar(id=calendar.id, time_zone="Asia/Tokyo", display_name="Tokyo"),
            update_mask=mask("time_zone", "display_name"),
        ),
        metadata=auth,
    )
    again = await stub.UpdateCalendar(first_request, metadata=auth)
    assert again == first
    got = await stub.GetCalendar(api.GetCalendarRequest(calendar_id=calendar.id), metadata=auth)
    assert (got.calendar.time_zone, got.calendar.display_name) == ("Asia/Tokyo", "Tokyo")
    assert (got.calendar.version, got.calendar.etag) == (3, second.calendar.etag)


async def test_update_calendar_retry_without_etag_does_not_undo_a_later_update(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    # No etag: a second application would succeed and silently put the first zone back.
    auth = token(tenant, "sla:write")
    calendar = await new_calendar(stub, auth)
    first_request = api.UpdateCalendarRequest(
        request_id=rid(),
        calendar=pb.Calendar(id=calendar.id, time_zone="America/New_York"),
        update_mask=mask("time_zone"),
    )
    first = await stub.UpdateCalendar(first_request, metadata=auth)
    await stub.UpdateCalendar(
        api.UpdateCalendarRequest(
            request_id=rid(),
            calendar=pb.Calendar(id=calendar.id, time_zone="Asia/Tokyo"),
            update_mask=mask("time_zone"),
        ),
        metadata=auth,
    )
    assert await stub.UpdateCalendar(first_request, metadata=auth) == first
    got = await stub.GetCalendar(api.GetCalendarRequest(calendar_id=calendar.id), metadata=auth)
    assert (got.calendar.time_zone, got.calendar.version) == ("Asia/Tokyo", 3)


async def test_delete_calendar_retry_answers_as_the_first_time(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    doomed = await new_calendar(stub, auth, "Doomed")
    kept = await new_calendar(stub, auth, "Kept")
    request = api.DeleteCalendarRequest(request_id=rid(), calendar_id=doomed.id, etag=doomed.etag)
    first = await stub.DeleteCalendar(request, metadata=auth)
    assert await stub.DeleteCalendar(request, metadata=auth) == first
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteCalendar(
            api.DeleteCalendarRequest(request_id=rid(), calendar_id=doomed.id), metadata=auth
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListCalendars(api.ListCalendarsRequest(), metadata=auth)
    assert [c.id for c in listed.calendars] == [kept.id]


async def test_add_holiday_retry_adds_it_once(stub: SlaServiceAsyncStub, tenant: str) -> None:
    auth = token(tenant, "sla:write")
    calendar = await new_calendar(stub, auth)
    request = api.AddHolidayRequest(request_id=rid(), calendar_id=calendar.id, holiday=christmas())
    first = await stub.AddHoliday(request, metadata=auth)
    assert first.holiday.id and first.calendar.version == 2
    other = await stub.AddHoliday(
        api.AddHolidayRequest(
            request_id=rid(), calendar_id=calendar.id, holiday=christmas("Boxing Day", 26)
        ),
        metadata=auth,
    )
    again = await stub.AddHoliday(request, metadata=auth)
    assert again == first
    got = await stub.GetCalendar(api.GetCalendarRequest(calendar_id=calendar.id), metadata=auth)
    assert sorted(h.id for h in got.calendar.holidays) == sorted(
        [first.holiday.id, other.holiday.id]
    )
    assert [h.display_name for h in got.calendar.holidays] == ["Christmas", "Boxing Day"]
    assert got.calendar.version == 3


async def test_remove_holiday_retry_answers_as_the_first_time(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    calendar = await new_calendar(stub, auth)
    gone = await stub.AddHoliday(
        api.AddHolidayRequest(calendar_id=calendar.id, holiday=christmas()), metadata=auth
    )
    kept = await stub.AddHoliday(
        api.AddHolidayRequest(calendar_id=calendar.id, holiday=christmas("Boxing Day", 26)),
        metadata=auth,
    )
    request = api.RemoveHolidayRequest(
        request_id=rid(), calendar_id=calendar.id, holiday_id=gone.holiday.id
    )
    first = await stub.RemoveHoliday(request, metadata=auth)
    assert [h.id for h in first.calendar.holidays] == [kept.holiday.id]
    again = await stub.RemoveHoliday(request, metadata=auth)
    assert again == first
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RemoveHoliday(
            api.RemoveHolidayRequest(
                request_id=rid(), calendar_id=calendar.id, holiday_id=gone.holiday.id
            ),
            metadata=auth,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    got = await stub.GetCalendar(api.GetCalendarRequest(calendar_id=calendar.id), metadata=auth)
    assert [h.id for h in got.calendar.holidays] == [kept.holiday.id]
    assert got.calendar.version == 4
