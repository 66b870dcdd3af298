"""Correlation rules over gRPC, the correlation block and ordering key of ``alert.routed``,
and SimulateCorrelation, on the real PostgreSQL and NATS."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import select

from services.rules.models import outbox
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert, poll, token
from tests.integration.rules.test_api import violations
from tests.integration.rules.test_routing import create_rule
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import correlation_pb2 as cpb
from triage.rules.v1 import events_pb2
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime.events import to_timestamp, unpack

pytestmark = pytest.mark.integration
READ, WRITE = "rules:read", "rules:write"


def site_outage(name: str = "site outage", **fields: object) -> cpb.CorrelationRule:
    values: dict[str, object] = {
        "display_name": name,
        "conditions": pb.Conditions(conditions=["device.offline", "gateway.down"]),
        "group_by": ["client_id", "site_id"],
        "window": Duration(seconds=600),
        "primary_conditions": pb.Conditions(conditions=["gateway.down"]),
    }
    values.update(fields)
    return cpb.CorrelationRule(**values)  # type: ignore[arg-type]


async def create(rules: Rules, tenant: str, rule: cpb.CorrelationRule) -> cpb.CorrelationRule:
    reply = await rules.stub.CreateCorrelationRule(
        cpb.CreateCorrelationRuleRequest(correlation_rule=rule), metadata=token(tenant, WRITE)
    )
    created: cpb.CorrelationRule = reply.correlation_rule
    return created


async def routed_envelopes(rules: Rules, count: int) -> list[tuple[str, events_pb2.AlertRouted]]:
    """(ordering key, payload) of the first ``count`` staged ``alert.routed``, waited for."""
    found: list[tuple[str, events_pb2.AlertRouted]] = []

    async def enough() -> bool:
        nonlocal found
        async with rules.db.system_transaction() as session:
            rows = (
                await session.execute(
                    select(outbox.c.envelope)
                    .where(outbox.c.type == "alert.routed")
                    .order_by(outbox.c.id)
                )
            ).scalars()
            envelopes = [Envelope.FromString(r) for r in rows]
        found = [(e.ordering_key, unpack(e, events_pb2.AlertRouted)) for e in envelopes]
        return len(found) >= count

    await poll(enough)
    return found


async def test_crud_with_validation_etags_idempotency_and_isolation(
    rules: Rules, tenant: str
) -> None:
    bad = site_outage(
        conditions=pb.Conditions(kinds=[ingest_pb.ALERT_KIND_TRIGGER], message_regex="x("),
        group_by=["client_id", "rack"],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(rules, tenant, bad)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {
        "correlation_rule.conditions.kinds",
        "correlation_rule.conditions.message_regex",
        "correlation_rule.group_by[1]",
    } <= set(violations(caught.value))
    for window in (Duration(seconds=30), None):
        short = site_outage()
        if window is None:
            short.ClearField("window")
        else:
            short.window.CopyFrom(window)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create(rules, tenant, short)
        assert "correlation_rule.window" in violations(caught.value)

    request = cpb.CreateCorrelationRuleRequest(
        request_id=str(uuid.uuid4()), correlation_rule=site_outage()
    )
    first = await rules.stub.CreateCorrelationRule(request, metadata=token(tenant, WRITE))
    again = await rules.stub.CreateCorrelationRule(request, metadata=token(tenant, WRITE))
    assert again.correlation_rule.id == first.correlation_rule.id
    created = first.correlation_rule
    assert (created.position, created.window.seconds, list(created.group_by)) == (
        0,
        600,
        ["client_id", "site_id"],
    )
    by_client = await create(rules, tenant, site_outage("by client", group_by=["client_id"]))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(rules, tenant, site_outage())
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

    other = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.GetCorrelationRule(
            cpb.GetCorrelationRuleRequest(correlation_rule_id=created.id),
            metadata=token(other, READ),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.CreateCorrelationRule(
            cpb.CreateCorrelationRuleRequest(correlation_rule=site_outage("x")),
            metadata=token(tenant, READ),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    change = cpb.CorrelationRule(id=created.id, etag=created.etag, window=Duration(seconds=1800))
    updated = (
        await rules.stub.UpdateCorrelationRule(
            cpb.UpdateCorrelationRuleRequest(
                correlation_rule=change, update_mask=FieldMask(paths=["window"])
            ),
            metadata=token(tenant, WRITE),
        )
    ).correlation_rule
    assert updated.window.seconds == 1800 and updated.version == 2
    assert list(updated.group_by) == ["client_id", "site_id"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.UpdateCorrelationRule(
            cpb.UpdateCorrelationRuleRequest(
                correlation_rule=change, update_mask=FieldMask(paths=["window"])
            ),
            metadata=token(tenant, WRITE),
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED

    moved = await rules.stub.ReorderCorrelationRules(
        cpb.ReorderCorrelationRulesRequest(correlation_rule_ids=[by_client.id, created.id]),
        metadata=token(tenant, WRITE),
    )
    assert [r.id for r in moved.correlation_rules] == [by_client.id, created.id]
    listed = await rules.stub.ListCorrelationRules(
        cpb.ListCorrelationRulesRequest(page_size=1), metadata=token(tenant, READ)
    )
    assert [r.id for r in listed.correlation_rules] == [by_client.id]
    assert listed.next_page_token
    deleted = await rules.stub.DeleteCorrelationRule(
        cpb.DeleteCorrelationRuleRequest(correlation_rule_id=by_client.id),
        metadata=token(tenant, WRITE),
    )
    assert deleted.rule_set_version == moved.rule_set_version + 1
    rest = await rules.stub.ListCorrelationRules(
        cpb.ListCorrelationRulesRequest(), metadata=token(tenant, READ)
    )
    assert [(r.id, r.position) for r in rest.correlation_rules] == [(created.id, 0)]


async def test_correlated_alerts_are_keyed_by_their_group(rules: Rules, tenant: str) -> None:
    """Devices of one site share a group key, which is the ordering key of their
    ``alert.routed`` (resets included); another site gets another key; an alert no
    correlation rule matches keeps its series key and no correlation block."""
    rule = await create(rules, tenant, site_outage())
    offline: dict[str, Any] = {"condition": "device.offline", "site_id": "hq"}
    sent = [
        alert(tenant, series_key="dev-1/offline", device_id="dev-1", at=T0, **offline),
        alert(tenant, series_key="dev-2/offline", device_id="dev-2", at=T0, **offline),
        alert(
            tenant,
            series_key="fw-1/gw",
            device_id="fw-1",
            at=T0,
            condition="gateway.down",
            site_id="hq",
        ),
        alert(
            tenant,
            series_key="dev-1/offline",
            device_id="dev-1",
            kind=ingest_pb.ALERT_KIND_RESET,
            at=T0 + timedelta(minutes=1),
            severity=ingest_pb.SEVERITY_INFO,
            **offline,
        ),
        alert(
            tenant,
            series_key="dev-9/offline",
            device_id="dev-9",
            at=T0,
            condition="device.offline",
            site_id="branch",
        ),
        alert(tenant, series_key="dev-1/disk", at=T0),
    ]
    for event in sent:
        await rules.publish(event)
    routed = {r.alert.alert_id: (key, r) for key, r in await routed_envelopes(rules, len(sent))}
    hq = f"corr:{rule.id}:client_id=acme|site_id=hq"
    for event in sent[:4]:
        key, r = routed[event.alert_id]
        assert (key, r.correlation.group_key, r.correlation.rule_id) == (hq, hq, rule.id)
        assert r.correlation.window.seconds == 600
    assert [routed[e.alert_id][1].correlation.primary for e in sent[:4]] == [
        False,
        False,
        True,
        False,
    ]
    assert [(v.field, v.value) for v in routed[sent[0].alert_id][1].correlation.group_values] == [
        ("client_id", "acme"),
        ("site_id", "hq"),
    ]
    branch_key, _ = routed[sent[4].alert_id]
    assert branch_key.startswith(f"corr:{rule.id}:") and branch_key != hq
    plain_key, plain = routed[sent[5].alert_id]
    assert plain_key == "dev-1/disk" and not plain.HasField("correlation")


async def test_simulate_reports_incidents_and_tickets_saved(rules: Rules, tenant: str) -> None:
    await create_rule(
        rules,
        tenant,
        pb.Rule(
            display_name="offline",
            conditions=pb.Conditions(conditions=["device.offline"]),
            actions=pb.Actions(ticket_action=pb.TICKET_ACTION_CREATE_TICKET),
        ),
    )
    sent = [
        alert(
            tenant,
            series_key=f"dev-{i}/offline",
            device_id=f"dev-{i}",
            at=T0 + timedelta(seconds=i),
            condition="device.offline",
            site_id="hq",
        )
        for i in range(20)
    ]
    for event in sent:
        await rules.publish(event)
    await routed_envelopes(rules, len(sent))
    window = cpb.SimulateCorrelationRequest(
        start_time=to_timestamp(T0 - timedelta(hours=1)),
        end_time=to_timestamp(T0 + timedelta(hours=1)),
    )
    none_yet = await rules.stub.SimulateCorrelation(window, metadata=token(tenant, READ))
    assert (none_yet.incident_count, none_yet.tickets_saved) == (0, 0)
    assert none_yet.tickets_without_correlation == 20

    proposal = cpb.SimulateCorrelationRequest()
    proposal.CopyFrom(window)
    proposal.proposed.correlation_rules.append(site_outage())
    report = await rules.stub.SimulateCorrelation(proposal, metadata=token(tenant, READ))
    assert report.alerts_evaluated == 20 and report.correlated_alerts == 20
    assert (report.incident_count, report.tickets_with_correlation, report.tickets_saved) == (
        1,
        1,
        19,
    )
    (incident,) = report.incidents
    assert (incident.members, incident.series, incident.tickets_merged) == (20, 20, 20)
    assert incident.start_time == to_timestamp(T0)

    await create(rules, tenant, site_outage())
    current = await rules.stub.SimulateCorrelation(window, metadata=token(tenant, READ))
    assert current.tickets_saved == 19

    proposal.proposed.correlation_rules[0].group_by.append("nope")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.SimulateCorrelation(proposal, metadata=token(tenant, READ))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "proposed.correlation_rules[0].group_by[2]" in violations(caught.value)


async def test_evaluate_alert_shows_the_correlation(rules: Rules, tenant: str) -> None:
    rule = await create(rules, tenant, site_outage())
    gateway = alert(tenant, series_key="fw-1/gw", at=T0, condition="gateway.down", site_id="hq")
    reply = await rules.stub.EvaluateAlert(
        api.EvaluateAlertRequest(alert=gateway), metadata=token(tenant, READ)
    )
    assert reply.correlation.group_key == f"corr:{rule.id}:client_id=acme|site_id=hq"
    assert reply.correlation.primary
    plain = alert(tenant, at=T0)
    reply = await rules.stub.EvaluateAlert(
        api.EvaluateAlertRequest(alert=plain), metadata=token(tenant, READ)
    )
    assert not reply.HasField("correlation")
