"""TicketsService's incident RPCs (issue 19): list and show with members and timeline,
move a member out and merge two incidents (human touches), bad input and other tenants."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2

from tests.integration.tickets.harness import T0, Harness, new_tenant, routed, token
from tests.integration.tickets.test_incidents import GROUP, correlated, publish_all
from triage.tickets.v1 import incidents_pb2 as pb
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as tpb

pytestmark = pytest.mark.integration


async def test_list_show_move_and_merge(harness: Harness) -> None:
    tenant = new_tenant()
    other_group = "corr:rule-9:site_id=site-2"
    await publish_all(
        harness,
        [
            correlated(tenant, "pc-1"),
            correlated(tenant, "fw-1", minutes=1, primary=True),
            correlated(tenant, "pc-2", minutes=2),
            correlated(tenant, "pc-9", group=other_group),
        ],
    )
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        listed = await stub.ListIncidents(
            pb.ListIncidentsRequest(page_size=1), metadata=token(tenant, "tickets:read")
        )
        assert len(listed.incidents) == 1 and listed.next_page_token
        rest = await stub.ListIncidents(
            pb.ListIncidentsRequest(page_size=1, page_token=listed.next_page_token),
            metadata=token(tenant, "tickets:read"),
        )
        by_key = {i.group_key: i for i in [*listed.incidents, *rest.incidents]}
        site = by_key[GROUP]
        assert (site.member_count, site.active_member_count) == (3, 3)
        shown = await stub.GetIncident(
            pb.GetIncidentRequest(incident_id=site.id), metadata=token(tenant)
        )
        assert shown.incident.primary_series_key == "int-1:fw-1:offline"
        assert [m.series_key for m in shown.members] == [
            "int-1:pc-1:offline",
            "int-1:fw-1:offline",
            "int-1:pc-2:offline",
        ]
        assert [e.what for e in shown.timeline] == ["opened", "joined", "primary joined", "joined"]

        moved = await stub.MoveIncidentMember(
            pb.MoveIncidentMemberRequest(incident_id=site.id, series_key="int-1:pc-2:offline"),
            metadata=token(tenant),
        )
        assert moved.incident.member_count == 2
        parent = await stub.GetTicket(
            tpb.GetTicketRequest(ticket_id=site.parent_ticket_id), metadata=token(tenant)
        )
        assert parent.ticket.human_touched  # a person's action: no auto-close any more
        # The parent's own alert cannot be moved out.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.MoveIncidentMember(
                pb.MoveIncidentMemberRequest(incident_id=site.id, series_key="int-1:pc-1:offline"),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        merged = await stub.MergeIncidents(
            pb.MergeIncidentsRequest(
                target_incident_id=site.id, source_incident_id=by_key[other_group].id
            ),
            metadata=token(tenant),
        )
        assert merged.incident.member_count == 3
        source_parent = await stub.GetTicket(
            tpb.GetTicketRequest(ticket_id=by_key[other_group].parent_ticket_id),
            metadata=token(tenant),
        )
        assert source_parent.ticket.status == 6  # closed as merged

        # Another tenant sees nothing; bad ids are INVALID_ARGUMENT naming the field.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetIncident(
                pb.GetIncidentRequest(incident_id=site.id), metadata=token(new_tenant())
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetIncident(
                pb.GetIncidentRequest(incident_id="nope"), metadata=token(tenant)
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.MergeIncidents(
                pb.MergeIncidentsRequest(target_incident_id=site.id, source_incident_id=site.id),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # Reading is not writing.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.MoveIncidentMember(
                pb.MoveIncidentMemberRequest(incident_id=site.id, series_key="x"),
                metadata=token(tenant, "tickets:read"),
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_moved_member_gets_its_own_ticket(harness: Harness) -> None:
    tenant = new_tenant()
    await publish_all(harness, [correlated(tenant, "pc-1"), correlated(tenant, "pc-2", minutes=1)])
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        [site] = (
            await stub.ListIncidents(pb.ListIncidentsRequest(), metadata=token(tenant))
        ).incidents
        await stub.MoveIncidentMember(
            pb.MoveIncidentMemberRequest(incident_id=site.id, series_key="int-1:pc-2:offline"),
            metadata=token(tenant),
        )
    await publish_all(harness, [correlated(tenant, "pc-2", minutes=3, sequence=2)])
    tickets = await harness.tickets(tenant)
    assert len(tickets) == 2 and tickets[1].device_name == "PC-2"


async def test_storm_protection_is_a_tenant_setting(harness: Harness) -> None:
    tenant = new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        shown = await stub.GetTenantSettings(tpb.GetTenantSettingsRequest(), metadata=token(tenant))
        defaults = shown.settings.storm_protection
        assert (defaults.enabled, defaults.tickets, defaults.window.seconds) == (True, 20, 600)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTenantSettings(
                tpb.UpdateTenantSettingsRequest(
                    settings=res.TenantSettings(),
                    update_mask=field_mask_pb2.FieldMask(paths=["storm_protection.tickets"]),
                ),
                metadata=token(tenant),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        await stub.UpdateTenantSettings(
            tpb.UpdateTenantSettingsRequest(
                settings=res.TenantSettings(storm_protection=res.StormProtection(tickets=3)),
                update_mask=field_mask_pb2.FieldMask(paths=["storm_protection.tickets"]),
            ),
            metadata=token(tenant),
        )
    await publish_all(
        harness,
        [
            routed(
                tenant,
                device=f"dev-{i}",
                series=f"int-1:dev-{i}:disk",
                occurred=T0 + timedelta(seconds=i),
                sequence=1,
            )
            for i in range(6)
        ],
    )
    tickets = await harness.tickets(tenant)
    assert len(tickets) == 4  # 3, then the storm's one for the other 3 alerts
    assert [t.title for t in tickets if t.title.startswith("storm:")] == [
        "storm: 6 alerts at Acme, 1 ticket"
    ]
