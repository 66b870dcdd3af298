"""Holiday-set categories through the API: validated, stored, and applied to clocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.sla.harness import Sla, TicketMaker, token
from tests.integration.sla.test_api import minutes, office
from triage.runtime.clients import open_channel
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub
from triage.tickets.v1 import resources_pb2 as tickets_pb

if TYPE_CHECKING:
    from triage.sla.v1.sla_service_pb2_grpc import SlaServiceAsyncStub

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")


@pytest.fixture
async def stub(sla: Sla) -> AsyncIterator[SlaServiceAsyncStub]:
    port = await sla.serve()
    async with open_channel(f"127.0.0.1:{port}") as channel:
        yield SlaServiceStub(channel)


def _bad_request(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
    return bad


async def test_an_unknown_category_is_a_field_violation_naming_the_offered_ones(
    stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    calendar = office()
    calendar.holiday_sets.append(pb.HolidaySet(country_code="gb", categories=["bank"]))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCalendar(api.CreateCalendarRequest(calendar=calendar), metadata=auth)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = _bad_request(caught.value).field_violations
    assert violation.field == "calendar.holiday_sets[0].categories"
    assert "'bank'" in violation.description and "choose from public" in violation.description


async def test_a_chosen_category_closes_its_days_for_new_clocks(
    sla: Sla, stub: SlaServiceAsyncStub, tenant: str
) -> None:
    auth = token(tenant, "sla:write")
    calendar = office(zone="America/New_York")
    calendar.holiday_sets.append(
        pb.HolidaySet(country_code="us", subdivision_code="ny", categories=["Unofficial", "public"])
    )
    created = (
        await stub.CreateCalendar(api.CreateCalendarRequest(calendar=calendar), metadata=auth)
    ).calendar
    assert list(created.holiday_sets[0].categories) == ["public", "unofficial"]
    policy = pb.SlaPolicy(
        display_name="Business hours",
        scope=pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_TENANT_DEFAULT),
        calendar_id=created.id,
        targets=[
            pb.PriorityTargets(
                priority=tickets_pb.PRIORITY_P3,
                first_response=pb.SlaTarget(duration=minutes(120), business_time=True),
            )
        ],
    )
    await stub.CreateSlaPolicy(api.CreateSlaPolicyRequest(sla_policy=policy), metadata=auth)

    # Monday 16:00 + 2 business hours: Tuesday 17 March 2026 is St Patrick's Day, an
    # "unofficial" US holiday, so the target falls due on Wednesday.
    monday_4pm = datetime(2026, 3, 16, 16, 0, tzinfo=NY)
    first = TicketMaker.new(tenant, at=monday_4pm, priority=3)
    await sla.send(first.opened())
    due = await _first_response_due(stub, auth, first.id)
    assert due == datetime(2026, 3, 18, 10, 0, tzinfo=NY)

    only_public = pb.Calendar(id=created.id, etag=created.etag)
    only_public.holiday_sets.append(pb.HolidaySet(country_code="US", subdivision_code="NY"))
    await stub.UpdateCalendar(
        api.UpdateCalendarRequest(
            calendar=only_public, update_mask=field_mask_pb2.FieldMask(paths=["holiday_sets"])
        ),
        metadata=auth,
    )
    second = TicketMaker.new(tenant, at=monday_4pm, priority=3)
    await sla.send(second.opened())
    assert await _first_response_due(stub, auth, second.id) == datetime(
        2026, 3, 17, 10, 0, tzinfo=NY
    )
    # The first ticket keeps the calendar version it started with.
    assert await _first_response_due(stub, auth, first.id) == due


async def _first_response_due(
    stub: SlaServiceAsyncStub, auth: tuple[tuple[str, str | bytes], ...], ticket_id: str
) -> datetime:
    got = await stub.GetTicketSla(api.GetTicketSlaRequest(ticket_id=ticket_id), metadata=auth)
    [clock] = [c for c in got.ticket_sla.clocks if c.kind == pb.SLA_TARGET_KIND_FIRST_RESPONSE]
    return clock.due_time.ToDatetime(tzinfo=NY)
