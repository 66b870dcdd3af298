"""The alert.received consumer: decisions, versions, inbox, windows and window ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import select

from services.rules.models import series
from services.rules.service.clock import ManualClock
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert, poll, token
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import events_pb2
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime.events import to_timestamp

pytestmark = pytest.mark.integration
WRITE = "rules:write"


def disk_rule(name: str = "disk") -> pb.Rule:
    return pb.Rule(
        display_name=name,
        conditions=pb.Conditions(conditions=["disk.*"], min_severity=ingest_pb.SEVERITY_MEDIUM),
        actions=pb.Actions(
            ticket_action=pb.TICKET_ACTION_CREATE_TICKET,
            queue="storage",
            title_template="[{{ client_name }}] {{ device_name }}: {{ title }}",
        ),
    )


async def create_rule(rules: Rules, tenant: str, rule: pb.Rule) -> pb.Rule:
    reply = await rules.stub.CreateRule(
        api.CreateRuleRequest(rule=rule), metadata=token(tenant, WRITE)
    )
    rule_out: pb.Rule = reply.rule
    return rule_out


async def create_window(
    rules: Rules, tenant: str, *, start: object, end: object, clients: list[str]
) -> pb.MaintenanceWindow:
    window = pb.MaintenanceWindow(
        display_name="patching",
        one_off=pb.OneOffSchedule(start_time=to_timestamp(start), end_time=to_timestamp(end)),  # type: ignore[arg-type]
        scope=pb.WindowScope(clients=clients),
    )
    reply = await rules.stub.CreateMaintenanceWindow(
        api.CreateMaintenanceWindowRequest(maintenance_window=window),
        metadata=token(tenant, WRITE),
    )
    created: pb.MaintenanceWindow = reply.maintenance_window
    return created


async def test_consumer_routes_by_the_first_matching_rule_at_its_version(
    rules: Rules, tenant: str
) -> None:
    disk = await create_rule(rules, tenant, disk_rule())
    await create_rule(rules, tenant, pb.Rule(display_name="everything else"))
    event = alert(tenant, at=T0)
    await rules.publish(event)

    [routed] = await rules.routed_for(event.alert_id)
    assert routed.cause == events_pb2.ROUTING_CAUSE_ALERT_RECEIVED
    assert routed.decision.kind == pb.DECISION_KIND_ROUTED
    assert list(routed.decision.rule_ids) == [disk.id]
    assert routed.rule_set_version == routed.decision.rule_set_version == 2
    assert routed.decision.actions.ticket_action == pb.TICKET_ACTION_CREATE_TICKET
    assert routed.decision.actions.queue == "storage"
    assert routed.decision.priority == 2
    assert routed.decision.rendered_title == "[Acme] srv-db-01: Disk C: low"
    assert routed.alert.alert_id == event.alert_id
    explained = {e.rule_id: e for e in routed.decision.rule_explanations}
    assert explained[disk.id].matched


async def test_unmatched_alert_takes_the_record_only_default(rules: Rules, tenant: str) -> None:
    await create_rule(rules, tenant, disk_rule())
    event = alert(tenant, at=T0, condition="cpu.high")
    await rules.publish(event)
    [routed] = await rules.routed_for(event.alert_id)
    assert routed.decision.kind == pb.DECISION_KIND_UNMATCHED
    assert routed.decision.actions.ticket_action == pb.TICKET_ACTION_RECORD_ONLY


async def test_redelivered_alert_received_routes_once(rules: Rules, tenant: str) -> None:
    await create_rule(rules, tenant, disk_rule())
    event = alert(tenant, at=T0)
    envelope = await rules.publish(event)
    await rules.routed_for(event.alert_id)
    # Past JetStream's dedup window (a new Nats-Msg-Id): the inbox catches the same event id.
    await rules.bus.publish_raw(
        "triage.alert.received." + tenant, envelope.SerializeToString(), event_id="other-id"
    )
    # A second envelope for the same stored alert: the decision log catches it.
    await rules.publish(event)
    await rules.drained()
    assert len([r for r in await rules.routed() if r.alert.alert_id == event.alert_id]) == 1


async def test_alert_in_an_active_window_is_suppressed(
    rules: Rules, tenant: str, clock: ManualClock
) -> None:
    window = await create_window(
        rules,
        tenant,
        start=T0 - timedelta(minutes=5),
        end=T0 + timedelta(hours=1),
        clients=["acme"],
    )
    assert window.state == pb.MAINTENANCE_WINDOW_STATE_ACTIVE
    inside = alert(tenant, at=T0)
    outside = alert(tenant, at=T0, client_id="globex", client_name="Globex", series_key="x")
    await rules.publish(inside)
    await rules.publish(outside)
    [held] = await rules.routed_for(inside.alert_id)
    [free] = await rules.routed_for(outside.alert_id)
    assert held.decision.kind == pb.DECISION_KIND_SUPPRESSED
    assert held.decision.window_id == window.id
    assert free.decision.kind == pb.DECISION_KIND_UNMATCHED


async def test_window_end_reroutes_still_firing_series_but_not_reset_ones(
    rules: Rules, tenant: str, clock: ManualClock
) -> None:
    await create_rule(rules, tenant, disk_rule())
    end = T0 + timedelta(hours=1)
    window = await create_window(rules, tenant, start=T0, end=end, clients=["acme"])
    clock.set(T0 + timedelta(minutes=10))
    firing = alert(tenant, at=clock.now(), series_key="dev-1/disk", sequence=1)
    trigger = alert(tenant, at=clock.now(), series_key="dev-2/disk", sequence=1)
    await rules.publish(firing)
    await rules.publish(trigger)
    await rules.routed_for(firing.alert_id)
    await rules.routed_for(trigger.alert_id)
    clock.set(T0 + timedelta(minutes=20))
    reset = alert(
        tenant,
        at=clock.now(),
        series_key="dev-2/disk",
        sequence=2,
        kind=ingest_pb.ALERT_KIND_RESET,
    )
    await rules.publish(reset)
    [reset_routed] = await rules.routed_for(reset.alert_id)
    assert reset_routed.decision.window_id == window.id

    clock.set(end)
    [_, rerouted] = await rules.routed_for(firing.alert_id, count=2)
    assert rerouted.cause == events_pb2.ROUTING_CAUSE_WINDOW_ENDED
    assert rerouted.decision.kind == pb.DECISION_KIND_ROUTED
    assert rerouted.decision.rendered_title == "[Acme] srv-db-01: Disk C: low"

    async def released() -> bool:
        async with rules.db.system_transaction() as session:
            rows = (await session.execute(select(series))).all()
        return all(r.suppressed_window_id is None for r in rows)

    await poll(released)
    routed = await rules.routed()
    assert [r.alert.alert_id for r in routed].count(trigger.alert_id) == 1
    assert [r.cause for r in routed].count(events_pb2.ROUTING_CAUSE_WINDOW_ENDED) == 1


async def test_ending_a_window_early_reroutes_at_once(
    rules: Rules, tenant: str, clock: ManualClock
) -> None:
    window = await create_window(
        rules, tenant, start=T0, end=T0 + timedelta(hours=4), clients=["acme"]
    )
    clock.set(T0 + timedelta(minutes=1))
    firing = alert(tenant, at=clock.now())
    await rules.publish(firing)
    await rules.routed_for(firing.alert_id)
    clock.set(T0 + timedelta(minutes=2))
    ended = await rules.stub.EndMaintenanceWindow(
        api.EndMaintenanceWindowRequest(window_id=window.id), metadata=token(tenant, WRITE)
    )
    assert ended.maintenance_window.state == pb.MAINTENANCE_WINDOW_STATE_ENDED
    [_, rerouted] = await rules.routed_for(firing.alert_id, count=2)
    assert rerouted.cause == events_pb2.ROUTING_CAUSE_WINDOW_ENDED
    assert rerouted.decision.kind == pb.DECISION_KIND_UNMATCHED


async def test_rule_change_bumps_the_version_and_invalidates_the_cache(
    rules: Rules, tenant: str
) -> None:
    disk = await create_rule(rules, tenant, disk_rule())
    first = alert(tenant, at=T0)
    await rules.publish(first)
    [before] = await rules.routed_for(first.alert_id)
    assert before.decision.rule_set_version == 1
    compilations = rules.service.cache.compilations

    change = pb.Rule(
        id=disk.id,
        etag=disk.etag,
        conditions=pb.Conditions(conditions=["cpu.*"]),
    )
    updated = await rules.stub.UpdateRule(
        api.UpdateRuleRequest(rule=change, update_mask=FieldMask(paths=["conditions"])),
        metadata=token(tenant, WRITE),
    )
    assert updated.rule.rule_set_version == 2
    assert updated.rule.version == 2
    assert updated.rule.actions.queue == "storage"

    second = alert(tenant, at=T0)
    await rules.publish(second)
    [after] = await rules.routed_for(second.alert_id)
    assert after.decision.rule_set_version == 2
    assert after.decision.kind == pb.DECISION_KIND_UNMATCHED
    assert rules.service.cache.compilations == compilations + 1

    third = alert(tenant, at=T0)
    await rules.publish(third)
    await rules.routed_for(third.alert_id)
    assert rules.service.cache.compilations == compilations + 1


async def test_tenant_zone_change_bumps_the_version(
    rules: Rules, tenant: str, clock: ManualClock
) -> None:
    await rules.publish_tenant(tenant, "Europe/Berlin", T0)
    listed = api.ListRulesResponse()

    async def bumped() -> bool:
        nonlocal listed
        listed = await rules.stub.ListRules(
            api.ListRulesRequest(), metadata=token(tenant, "rules:read")
        )
        return bool(listed.rule_set_version == 1)

    await poll(bumped)
