"""Maintenance windows and tenant isolation through the whole mesh."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from google.protobuf import timestamp_pb2

from tests.e2e.harness import Integration, Mesh, Tenant, eventually
from tests.e2e.providers import ninja_reset, ninja_trigger
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

pytestmark = pytest.mark.e2e


def stamp(at: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp."""
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(at)
    return out


async def series_of(tenant: Tenant, alert_id: str) -> str:
    """The series key ingest gave an alert."""
    return (await tenant.alert(alert_id)).series_key


async def no_ticket(tenant: Tenant, series: str) -> bool:
    """Whether no ticket is linked to ``series``."""
    return all(series not in t.linked_series_keys for t in await tenant.list_tickets())


async def test_maintenance_window_suppresses_then_its_early_end_routes_the_firing_alert(
    mesh: Mesh,
) -> None:
    tenant = await mesh.new_tenant("e2e maintenance")
    await tenant.catch_all_rule()
    ninja = await tenant.integration("ninjaone")
    now = datetime.now(UTC)
    window = (
        await tenant.rules.CreateMaintenanceWindow(
            rules_api.CreateMaintenanceWindowRequest(
                request_id=str(uuid.uuid4()),
                maintenance_window=rules_pb.MaintenanceWindow(
                    display_name="Patch night SRV-001",
                    description="CHG-1234",
                    one_off=rules_pb.OneOffSchedule(
                        start_time=stamp(now - timedelta(minutes=1)),
                        end_time=stamp(now + timedelta(hours=2)),
                    ),
                    scope=rules_pb.WindowScope(device_globs=["srv-001"]),
                ),
            ),
            metadata=tenant.md,
        )
    ).maintenance_window
    assert window.state == rules_pb.MAINTENANCE_WINDOW_STATE_ACTIVE

    t0 = time.time() - 600
    # In scope and still firing when the window ends.
    firing = await ninja.post(ninja_trigger(series="cpu", device=1, activity_id=1, at=t0))
    # In scope, triggered and reset inside the window: cleared quietly.
    cleared = await ninja.post(ninja_trigger(series="mem", device=1, activity_id=2, at=t0))
    await ninja.post(ninja_reset(series="mem", device=1, activity_id=3, at=t0 + 60))
    # Out of scope: ticketed at once; being later in the stream, it tells the others were handled.
    other = await ninja.post(ninja_trigger(series="disk", device=2, activity_id=4, at=t0))

    firing_series = await series_of(tenant, firing.alert_ids[0])
    cleared_series = await series_of(tenant, cleared.alert_ids[0])
    await tenant.wait_ticket(await series_of(tenant, other.alert_ids[0]))
    assert await tenant.routed(firing.alert_ids[0])
    assert await no_ticket(tenant, firing_series)
    assert await no_ticket(tenant, cleared_series)
    listed = await tenant.cli("windows", "list")
    assert [(w["id"], w["state"]) for w in listed] == [
        (window.id, "MAINTENANCE_WINDOW_STATE_ACTIVE")
    ]

    ended = (
        await tenant.rules.EndMaintenanceWindow(
            rules_api.EndMaintenanceWindowRequest(
                request_id=str(uuid.uuid4()), window_id=window.id
            ),
            metadata=tenant.md,
        )
    ).maintenance_window
    assert ended.state == rules_pb.MAINTENANCE_WINDOW_STATE_ENDED
    ticket = await tenant.wait_ticket(firing_series)
    assert ticket.occurrence_count == 1
    assert ticket.device_name == "SRV-001"

    # The reset series stays quiet: a later alert's ticket proves the reroute pass is done.
    late = await ninja.post(ninja_trigger(series="net", device=3, activity_id=5, at=t0))
    await tenant.wait_ticket(await series_of(tenant, late.alert_ids[0]))
    assert await no_ticket(tenant, cleared_series)
    assert len(await tenant.list_tickets()) == 3


async def test_two_tenants_sending_at_once_never_see_each_other(mesh: Mesh) -> None:
    a, b = await asyncio.gather(mesh.new_tenant("e2e tenant A"), mesh.new_tenant("e2e tenant B"))
    await asyncio.gather(a.catch_all_rule(), b.catch_all_rule())
    ia, ib = await asyncio.gather(a.integration("ninjaone"), b.integration("ninjaone"))
    series, repeats = 8, 3
    t0 = time.time() - 3600
    gate = asyncio.Semaphore(16)

    async def send(integration: Integration, n: int) -> list[str]:
        # Both tenants send byte-identical bodies: same series, devices and event ids.
        s, r = divmod(n, repeats)
        body = ninja_trigger(series=f"s{s}", device=100 + s, activity_id=n, at=t0 + r)
        async with gate:
            return (await integration.post(body)).alert_ids

    jobs = [send(i, n) for n in range(series * repeats) for i in (ia, ib)]
    sent = await asyncio.gather(*jobs)
    accepted = {ia.id: set[str](), ib.id: set[str]()}
    for n, ids in enumerate(sent):
        accepted[(ia, ib)[n % 2].id].update(ids)
    assert all(len(v) == series * repeats for v in accepted.values())

    async def settled(tenant: Tenant) -> list[tickets_pb.Ticket] | None:
        tickets = await tenant.list_tickets()
        total = sum(t.occurrence_count for t in tickets)
        return tickets if total == series * repeats and len(tickets) == series else None

    for tenant in (a, b):
        tickets = await eventually(functools.partial(settled, tenant), what="tenant ticketed")
        assert {t.tenant_id for t in tickets} == {tenant.tenant_id}

    a_ids = {t.id for t in await a.list_tickets()}
    b_ids = {t.id for t in await b.list_tickets()}
    assert not a_ids & b_ids
    # Through the CLI, each tenant's token lists exactly its own tickets and alerts.
    assert {t["id"] for t in (await a.cli("tickets", "list", "--limit", "500"))["tickets"]} == a_ids
    assert {t["id"] for t in (await b.cli("tickets", "list", "--limit", "500"))["tickets"]} == b_ids
    b_alerts = await a.cli("alerts", "list", "--integration", ib.id)
    assert b_alerts.get("alert_events", []) == []
    # Another tenant's ticket is NOT_FOUND, never PERMISSION_DENIED.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await a.tickets.GetTicket(
            tickets_api.GetTicketRequest(ticket_id=next(iter(b_ids))), metadata=a.md
        )
    assert denied.value.code() == grpc.StatusCode.NOT_FOUND
    # A's secret does not open B's integration.
    forged = await mesh.http.post(
        f"/v1/webhooks/ninjaone/{ib.id}",
        content=ninja_trigger(series="x", device=1, activity_id=999, at=t0),
        headers={"content-type": "application/json", "x-triage-secret": ia.secret},
    )
    assert forged.status_code == httpx.codes.UNAUTHORIZED


async def test_a_signed_token_of_an_unregistered_tenant_is_refused_by_every_service(
    mesh: Mesh,
) -> None:
    from triage.ingest.v1 import ingest_service_pb2 as ingest_api
    from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
    from triage.notify.v1 import notify_service_pb2 as notify_api
    from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
    from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
    from triage.sla.v1 import sla_service_pb2 as sla_api
    from triage.sla.v1 import sla_service_pb2_grpc as sla_grpc
    from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc

    ghost = str(uuid.uuid4())  # validly signed, never registered
    token = mesh.authority.issue(subject="ghost", tenant_id=ghost, scopes=["tickets:read"])
    md = (("authorization", f"Bearer {token}"),)
    ch = mesh.channels
    calls: dict[str, Awaitable[object]] = {
        "ingest": ingest_grpc.IngestServiceStub(ch["ingest"]).ListIntegrations(
            ingest_api.ListIntegrationsRequest(), metadata=md
        ),
        "rules": rules_grpc.RulesServiceStub(ch["rules"]).ListRules(
            rules_api.ListRulesRequest(), metadata=md
        ),
        "tickets": tickets_grpc.TicketsServiceStub(ch["tickets"]).ListTickets(
            tickets_api.ListTicketsRequest(), metadata=md
        ),
        "sla": sla_grpc.SlaServiceStub(ch["sla"]).ListSlaPolicies(
            sla_api.ListSlaPoliciesRequest(), metadata=md
        ),
        "notify": notify_grpc.NotifyServiceStub(ch["notify"]).ListChannels(
            notify_api.ListChannelsRequest(), metadata=md
        ),
    }
    for service, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, service
