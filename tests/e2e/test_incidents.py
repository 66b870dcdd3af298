"""Incidents through the whole mesh (issue 19): a site outage through the gateway is one
ticket, one SLA clock, one "opened" notification and 50 linked alerts; all resets close it;
simulate reports the saving; a storm across sites collapses.

Bounded: every wait has a deadline (at most 120 s each), no sleeps.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from google.protobuf import duration_pb2

from tests.e2e.harness import Integration, Mesh, Tenant, eventually
from tests.e2e.providers import dump
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.rules.v1 import correlation_pb2 as corr_pb
from triage.runtime import to_timestamp
from triage.tickets.v1 import incidents_pb2 as inc_pb

pytestmark = pytest.mark.e2e
DEVICES = 50
WAIT = 120.0


def _ninja(kind: str, *, device: int, site: int, activity_id: int, at: float) -> bytes:
    """A NinjaOne offline trigger (or its reset) of ``device`` at site ``site``."""
    triggered = kind == "trigger"
    return dump(
        {
            "id": activity_id,
            "activityTime": at,
            "deviceId": device,
            "severity": "MAJOR",
            "priority": "HIGH",
            "seriesUid": f"offline-{device}",
            "activityType": "CONDITION",
            "statusCode": "TRIGGERED" if triggered else "RESET",
            "status": "Triggered" if triggered else "Reset",
            "sourceConfigUid": "cfg-offline",
            "sourceName": "Device offline",
            "subject": f"SRV-{device:03d} is offline" if triggered else "back online",
            "message": "No heartbeat" if triggered else "Condition reset",
            "device": {
                "id": device,
                "displayName": f"SRV-{device:03d}",
                "organizationId": 7,
                "locationId": site,
            },
        }
    )


async def _tenant(mesh: Mesh, name: str) -> tuple[Tenant, Integration]:
    tenant = await mesh.new_tenant(name)
    await tenant.catch_all_rule()
    window = duration_pb2.Duration()
    window.FromTimedelta(timedelta(minutes=10))
    await tenant.rules.CreateCorrelationRule(
        corr_pb.CreateCorrelationRuleRequest(
            request_id=str(uuid.uuid4()),
            correlation_rule=corr_pb.CorrelationRule(
                display_name="site outage", group_by=["client_id", "site_id"], window=window
            ),
        ),
        metadata=tenant.md,
    )
    return tenant, await tenant.integration("ninjaone")


async def _incidents(tenant: Tenant) -> list[inc_pb.Incident]:
    reply = await tenant.tickets.ListIncidents(
        inc_pb.ListIncidentsRequest(page_size=500), metadata=tenant.md
    )
    return list(reply.incidents)


async def _sla_clocks(mesh: Mesh, tenant: Tenant) -> int:
    url = mesh.stack.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT count(DISTINCT ticket_id) FROM sla.clocks WHERE tenant_id = %s",
            (tenant.tenant_id,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _deliveries(tenant: Tenant, event_type: Any) -> int:
    stub = notify_grpc.NotifyServiceStub(tenant.mesh.channels["notify"])
    reply = await stub.ListDeliveries(
        notify_api.ListDeliveriesRequest(page_size=500, event_types=[event_type]),
        metadata=tenant.md,
    )
    return len(reply.deliveries)


async def _notify_opened_and_closed(tenant: Tenant) -> None:
    stub = notify_grpc.NotifyServiceStub(tenant.mesh.channels["notify"])
    channel = await stub.CreateChannel(
        notify_api.CreateChannelRequest(
            channel=notify_pb.Channel(
                display_name="ops",
                webhook=notify_pb.WebhookConfig(
                    url="https://hooks.example.com/triage", signing_secret="s" * 32
                ),
            )
        ),
        metadata=tenant.md,
    )
    await stub.CreateNotificationPolicy(
        notify_api.CreateNotificationPolicyRequest(
            notification_policy=notify_pb.NotificationPolicy(
                display_name="opened and closed",
                event_types=[
                    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED,
                    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_CLOSED,
                ],
                channel_ids=[channel.channel.id],
            )
        ),
        metadata=tenant.md,
    )


async def test_a_site_outage_is_one_ticket_one_clock_one_notification(mesh: Mesh) -> None:
    await site_outage(mesh)


async def test_a_storm_across_sites_collapses(mesh: Mesh) -> None:
    await storm_across_sites(mesh)


async def site_outage(mesh: Mesh) -> None:
    """50 devices of one site offline, then back: one ticket, clock and notification each."""
    tenant, hook = await _tenant(mesh, "incidents")
    await _notify_opened_and_closed(tenant)
    began = datetime.now(UTC) - timedelta(minutes=10)
    # Occurred in the recent past (simulate replays up to now): triggers, then resets.
    now = time.time() - 300
    for i in range(DEVICES):
        await hook.post(
            _ninja("trigger", device=100 + i, site=12, activity_id=1000 + i, at=now + i)
        )

    async def grouped() -> inc_pb.Incident | None:
        found = await _incidents(tenant)
        return found[0] if len(found) == 1 and found[0].member_count == DEVICES else None

    incident = await eventually(grouped, timeout=WAIT, what="one incident of 50 members")
    [ticket] = await tenant.list_tickets()
    assert ticket.id == incident.parent_ticket_id and ticket.occurrence_count == DEVICES
    assert await eventually(lambda: _sla_clocks(mesh, tenant), timeout=WAIT, what="a clock") == 1
    opened = notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED
    assert await eventually(lambda: _deliveries(tenant, opened), timeout=WAIT, what="opened") == 1

    for i in range(DEVICES):
        await hook.post(
            _ninja("reset", device=100 + i, site=12, activity_id=5000 + i, at=now + 120 + i)
        )
    await tenant.wait_ticket(
        f"{ticket.linked_series_keys[0]}", lambda t: t.close_time.seconds > 0, timeout=WAIT
    )
    closed = notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_CLOSED
    assert await eventually(lambda: _deliveries(tenant, closed), timeout=WAIT, what="closed") == 1
    assert len(await tenant.list_tickets()) == 1
    assert await _sla_clocks(mesh, tenant) == 1
    assert await _deliveries(tenant, opened) == 1

    simulated = await tenant.rules.SimulateCorrelation(
        corr_pb.SimulateCorrelationRequest(start_time=to_timestamp(began)), metadata=tenant.md
    )
    assert simulated.tickets_without_correlation == DEVICES
    assert simulated.tickets_with_correlation == 1
    assert simulated.tickets_saved == DEVICES - 1


async def storm_across_sites(mesh: Mesh) -> None:
    """25 sites of one client offline: 20 incidents, then one storm for the other 5."""
    tenant, hook = await _tenant(mesh, "storm")
    now = time.time()
    for i in range(25):
        await hook.post(
            _ninja("trigger", device=300 + i, site=40 + i, activity_id=9000 + i, at=now + i)
        )

    async def stormed() -> list[inc_pb.Incident] | None:
        found = await _incidents(tenant)
        storm = [i for i in found if i.storm]
        return found if storm and storm[0].member_count == 5 else None

    found = await eventually(stormed, timeout=WAIT, what="a storm of 5")
    assert len(found) == 21
    tickets = await tenant.list_tickets()
    assert len(tickets) == 21
    assert sum(t.title.startswith("storm: 25 alerts at") for t in tickets) == 1
