"""RulesService over gRPC: validation, isolation, idempotency, order, Evaluate, Simulate."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.rules.service.clock import ManualClock
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert, token
from tests.integration.rules.test_routing import create_rule, create_window, disk_rule
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime.events import to_timestamp
from triage.types.v1.time_pb2 import DAY_OF_WEEK_MONDAY, TimeOfDay, WeeklyTimeRange

pytestmark = pytest.mark.integration
READ, WRITE = "rules:read", "rules:write"


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    bad = error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            detail.Unpack(bad)
    return {v.field: v.description for v in bad.field_violations}


async def test_invalid_rule_names_every_bad_field(rules: Rules, tenant: str) -> None:
    bad = pb.Rule(
        display_name="broken",
        conditions=pb.Conditions(
            message_regex="disk (",
            time_conditions=pb.TimeConditions(
                time_zone="Mars/Olympus",
                ranges=[
                    WeeklyTimeRange(
                        days=[DAY_OF_WEEK_MONDAY], start=TimeOfDay(hours=9), end=TimeOfDay(hours=17)
                    )
                ],
            ),
            label_matchers=[pb.LabelMatcher(name="env", value="x")],
        ),
        actions=pb.Actions(title_template="{{ device_name "),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.CreateRule(api.CreateRuleRequest(rule=bad), metadata=token(tenant, WRITE))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = violations(caught.value)
    assert {
        "rule.conditions.message_regex",
        "rule.conditions.time_conditions.time_zone",
        "rule.conditions.label_matchers[0].op",
        "rule.actions.title_template",
    } <= set(fields)
    # An undefined enum number breaks the contract itself: rejected before the domain checks.
    bad.actions.priority_override = 9  # type: ignore[assignment]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.CreateRule(api.CreateRuleRequest(rule=bad), metadata=token(tenant, WRITE))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule.actions.priority_override" in violations(caught.value)


async def test_invalid_window_names_its_fields(rules: Rules, tenant: str) -> None:
    window = pb.MaintenanceWindow(
        display_name="weekly",
        recurring=pb.RecurringSchedule(rrule="FREQ=SOMETIMES", time_zone="Nowhere/City"),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.CreateMaintenanceWindow(
            api.CreateMaintenanceWindowRequest(maintenance_window=window),
            metadata=token(tenant, WRITE),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = violations(caught.value)
    assert "maintenance_window.recurring.time_zone" in fields
    assert "maintenance_window.recurring.duration" in fields


async def test_tenants_never_see_each_other(rules: Rules, tenant: str) -> None:
    mine = await create_rule(rules, tenant, disk_rule())
    other = "00000000-0000-4000-8000-000000000001"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.GetRule(api.GetRuleRequest(rule_id=mine.id), metadata=token(other, READ))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.DeleteRule(
            api.DeleteRuleRequest(rule_id=mine.id), metadata=token(other, WRITE)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await rules.stub.ListRules(api.ListRulesRequest(), metadata=token(other, READ))
    assert list(listed.rules) == []
    got = await rules.stub.GetRule(
        api.GetRuleRequest(rule_id=mine.id), metadata=token(tenant, READ)
    )
    assert got.rule.id == mine.id


async def test_scopes_are_enforced(rules: Rules, tenant: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.CreateRule(
            api.CreateRuleRequest(rule=disk_rule()), metadata=token(tenant, READ)
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.ListRules(api.ListRulesRequest(), metadata=token(tenant, "tickets:read"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_request_id_replays_the_first_answer(rules: Rules, tenant: str) -> None:
    request = api.CreateRuleRequest(
        request_id="9c7b1a8e-7f0d-4c1e-9a55-2b8b5a3c0f11", rule=disk_rule()
    )
    first = await rules.stub.CreateRule(request, metadata=token(tenant, WRITE))
    again = await rules.stub.CreateRule(request, metadata=token(tenant, WRITE))
    assert again.rule == first.rule
    listed = await rules.stub.ListRules(api.ListRulesRequest(), metadata=token(tenant, READ))
    assert len(listed.rules) == 1
    assert listed.rule_set_version == 1


async def test_positions_reorder_and_stale_etag(rules: Rules, tenant: str) -> None:
    a = await create_rule(rules, tenant, disk_rule("a"))
    b = await create_rule(rules, tenant, disk_rule("b"))
    c = (
        await rules.stub.CreateRule(
            api.CreateRuleRequest(rule=disk_rule("c"), position=0), metadata=token(tenant, WRITE)
        )
    ).rule
    listed = await rules.stub.ListRules(api.ListRulesRequest(), metadata=token(tenant, READ))
    assert [r.id for r in listed.rules] == [c.id, a.id, b.id]
    assert [r.position for r in listed.rules] == [0, 1, 2]
    reordered = await rules.stub.ReorderRules(
        api.ReorderRulesRequest(
            rule_ids=[b.id, a.id, c.id], expected_rule_set_version=listed.rule_set_version
        ),
        metadata=token(tenant, WRITE),
    )
    assert [r.id for r in reordered.rules] == [b.id, a.id, c.id]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.ReorderRules(
            api.ReorderRulesRequest(rule_ids=[a.id, b.id]), metadata=token(tenant, WRITE)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.UpdateRule(
            api.UpdateRuleRequest(
                rule=pb.Rule(id=b.id, etag=b.etag, description="late"),
                update_mask=FieldMask(paths=["description"]),
            ),
            metadata=token(tenant, WRITE),
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED
    page = await rules.stub.ListRules(
        api.ListRulesRequest(page_size=2), metadata=token(tenant, READ)
    )
    rest = await rules.stub.ListRules(
        api.ListRulesRequest(page_size=2, page_token=page.next_page_token),
        metadata=token(tenant, READ),
    )
    assert [r.id for r in [*page.rules, *rest.rules]] == [b.id, a.id, c.id]
    await rules.stub.DeleteRule(api.DeleteRuleRequest(rule_id=a.id), metadata=token(tenant, WRITE))
    listed = await rules.stub.ListRules(api.ListRulesRequest(), metadata=token(tenant, READ))
    assert [(r.id, r.position) for r in listed.rules] == [(b.id, 0), (c.id, 1)]


async def test_evaluate_gives_the_consumers_decision(
    rules: Rules, tenant: str, clock: ManualClock
) -> None:
    await create_rule(rules, tenant, disk_rule())
    await create_window(rules, tenant, start=T0, end=T0 + timedelta(hours=1), clients=["globex"])
    for event in (
        alert(tenant, at=T0),
        alert(tenant, at=T0, client_id="globex", client_name="Globex", series_key="g"),
        alert(tenant, at=T0, condition="cpu.high", series_key="c"),
    ):
        await rules.publish(event)
        [routed] = await rules.routed_for(event.alert_id)
        stored = await rules.stub.EvaluateAlert(
            api.EvaluateAlertRequest(alert_id=event.alert_id, evaluate_time=to_timestamp(T0)),
            metadata=token(tenant, READ),
        )
        inline = await rules.stub.EvaluateAlert(
            api.EvaluateAlertRequest(alert=event, evaluate_time=to_timestamp(T0)),
            metadata=token(tenant, READ),
        )
        assert stored.decision == routed.decision
        assert inline.decision == routed.decision
    routed_all = await rules.routed()
    assert {r.decision.kind for r in routed_all} == {
        pb.DECISION_KIND_ROUTED,
        pb.DECISION_KIND_SUPPRESSED,
        pb.DECISION_KIND_UNMATCHED,
    }


async def test_simulate_compares_a_proposal_with_what_happened(
    rules: Rules, tenant: str, clock: ManualClock
) -> None:
    disk = await create_rule(rules, tenant, disk_rule())
    history = [
        alert(tenant, at=T0 + timedelta(minutes=i), series_key=f"s{i}", condition=condition)
        for i, condition in enumerate(["disk.low", "disk.low", "disk.full", "cpu.high", "cpu.high"])
    ]
    for event in history:
        await rules.publish(event)
    for event in history:
        await rules.routed_for(event.alert_id)
    cpu = pb.Rule(
        display_name="cpu",
        conditions=pb.Conditions(conditions=["cpu.high"]),
        actions=pb.Actions(ticket_action=pb.TICKET_ACTION_RECORD_ONLY),
    )
    proposal = api.SimulateRulesRequest(
        proposed_rules=api.ProposedRules(rules=[cpu]),
        proposed_windows=api.ProposedWindows(
            maintenance_windows=[
                pb.MaintenanceWindow(
                    display_name="disk work",
                    one_off=pb.OneOffSchedule(
                        start_time=to_timestamp(T0 + timedelta(minutes=2)),
                        end_time=to_timestamp(T0 + timedelta(hours=1)),
                    ),
                )
            ]
        ),
        start_time=to_timestamp(T0 - timedelta(hours=1)),
        end_time=to_timestamp(T0 + timedelta(hours=1)),
    )
    report = await rules.stub.SimulateRules(proposal, metadata=token(tenant, READ))
    assert report.alerts_evaluated == 5
    assert report.rule_set_version == 1
    assert report.current_total.matched == 3
    assert report.current_total.tickets_opened == 3
    assert report.current_total.unmatched == 2
    assert report.proposed_total.suppressed == 3
    assert report.proposed_total.matched == 0
    rows = {(r.rule_id, r.display_name): r for r in report.rules}
    new = rows[("", "cpu")]
    assert new.proposed_index == 0
    assert new.current.matched == 0
    deleted = rows[(disk.id, "disk")]
    assert deleted.proposed_index == -1
    assert deleted.current.matched == 3
    assert deleted.current.tickets_opened == 3
    [window] = report.windows
    assert window.window_id == ""
    assert window.proposed_suppressed == 3
    assert window.current_suppressed == 0

    only_rules = await rules.stub.SimulateRules(
        api.SimulateRulesRequest(
            proposed_rules=api.ProposedRules(rules=[cpu]),
            start_time=to_timestamp(T0 - timedelta(hours=1)),
            end_time=to_timestamp(T0 + timedelta(hours=1)),
        ),
        metadata=token(tenant, READ),
    )
    cpu_row = next(r for r in only_rules.rules if r.display_name == "cpu")
    assert cpu_row.proposed.matched == 2
    assert cpu_row.proposed.recorded == 2
    assert only_rules.proposed_total.unmatched == 3


async def test_simulate_rejects_a_bad_proposal_naming_the_field(rules: Rules, tenant: str) -> None:
    bad = pb.Rule(display_name="x", conditions=pb.Conditions(message_regex="("))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.SimulateRules(
            api.SimulateRulesRequest(
                proposed_rules=api.ProposedRules(rules=[bad]),
                start_time=to_timestamp(T0 - timedelta(hours=1)),
            ),
            metadata=token(tenant, READ),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "proposed_rules.rules[0].conditions.message_regex" in violations(caught.value)


async def test_window_crud_and_states(rules: Rules, tenant: str, clock: ManualClock) -> None:
    later = await create_window(
        rules, tenant, start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=3), clients=["a"]
    )
    assert later.state == pb.MAINTENANCE_WINDOW_STATE_SCHEDULED
    assert later.next_start_time == to_timestamp(T0 + timedelta(hours=2))
    weekly = await rules.stub.CreateMaintenanceWindow(
        api.CreateMaintenanceWindowRequest(
            maintenance_window=pb.MaintenanceWindow(
                display_name="weekly",
                recurring=pb.RecurringSchedule(
                    rrule="FREQ=WEEKLY;BYDAY=MO",
                    start_time=to_timestamp(T0 - timedelta(days=7)),
                    duration=Duration(seconds=3600),
                    time_zone="Europe/London",
                ),
            )
        ),
        metadata=token(tenant, WRITE),
    )
    assert weekly.maintenance_window.state == pb.MAINTENANCE_WINDOW_STATE_ACTIVE
    extended = await rules.stub.UpdateMaintenanceWindow(
        api.UpdateMaintenanceWindowRequest(
            maintenance_window=pb.MaintenanceWindow(
                id=weekly.maintenance_window.id,
                etag=weekly.maintenance_window.etag,
                end_override_time=to_timestamp(T0 + timedelta(hours=3)),
            ),
            update_mask=FieldMask(paths=["end_override_time"]),
        ),
        metadata=token(tenant, WRITE),
    )
    assert extended.maintenance_window.current_end_time == to_timestamp(T0 + timedelta(hours=3))
    listed = await rules.stub.ListMaintenanceWindows(
        api.ListMaintenanceWindowsRequest(), metadata=token(tenant, READ)
    )
    assert [w.id for w in listed.maintenance_windows] == [
        weekly.maintenance_window.id,
        later.id,
    ]
    await rules.stub.DeleteMaintenanceWindow(
        api.DeleteMaintenanceWindowRequest(window_id=later.id), metadata=token(tenant, WRITE)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.GetMaintenanceWindow(
            api.GetMaintenanceWindowRequest(window_id=later.id), metadata=token(tenant, READ)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
