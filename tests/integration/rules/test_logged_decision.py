"""RulesService.GetAlertDecision: the decision logged when an alert was received, which a
later rule change does not rewrite (EvaluateAlert's dry run does follow it)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import grpc
import pytest

from services.rules.service.clock import ManualClock
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert, token
from tests.integration.rules.test_routing import create_rule, create_window, disk_rule
from triage.cli.main import main
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api

pytestmark = pytest.mark.integration
READ = "rules:read"


async def test_logged_decision_is_what_routed_the_alert(
    rules: Rules, tenant: str, clock: ManualClock
) -> None:
    disk = await create_rule(rules, tenant, disk_rule())
    await create_window(rules, tenant, start=T0, end=T0 + timedelta(hours=1), clients=["globex"])
    routed_one = alert(tenant, at=T0)
    suppressed = alert(tenant, at=T0, client_id="globex", client_name="Globex", series_key="g")
    for event in (routed_one, suppressed):
        await rules.publish(event)
        [routed] = await rules.routed_for(event.alert_id)
        logged = await rules.stub.GetAlertDecision(
            api.GetAlertDecisionRequest(alert_id=event.alert_id), metadata=token(tenant, READ)
        )
        assert logged.decision.kind == routed.decision.kind
        assert list(logged.decision.rule_ids) == list(routed.decision.rule_ids)
        assert logged.decision.window_id == routed.decision.window_id
        assert logged.decision.rule_set_version == routed.decision.rule_set_version
        assert logged.decide_time.seconds > 0
    await rules.stub.DeleteRule(
        api.DeleteRuleRequest(rule_id=disk.id), metadata=token(tenant, "rules:write")
    )
    logged = await rules.stub.GetAlertDecision(
        api.GetAlertDecisionRequest(alert_id=routed_one.alert_id), metadata=token(tenant, READ)
    )
    now = await rules.stub.EvaluateAlert(
        api.EvaluateAlertRequest(alert_id=routed_one.alert_id), metadata=token(tenant, READ)
    )
    assert logged.decision.kind == pb.DECISION_KIND_ROUTED
    assert list(logged.decision.rule_ids) == [disk.id] and logged.create_ticket
    assert now.decision.kind == pb.DECISION_KIND_UNMATCHED


async def test_unknown_other_tenant_and_bad_ids(rules: Rules, tenant: str) -> None:
    event = alert(tenant, at=T0)
    await rules.publish(event)
    await rules.routed_for(event.alert_id)
    for alert_id, metadata in (
        (event.alert_id, token(str(uuid.uuid4()), READ)),
        (str(uuid.uuid4()), token(tenant, READ)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await rules.stub.GetAlertDecision(
                api.GetAlertDecisionRequest(alert_id=alert_id), metadata=metadata
            )
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await rules.stub.GetAlertDecision(
            api.GetAlertDecisionRequest(alert_id=""), metadata=token(tenant, READ)
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await rules.stub.GetAlertDecision(
            api.GetAlertDecisionRequest(alert_id=event.alert_id),
            metadata=token(tenant, "tickets:read"),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_cli_rules_decision(
    rules: Rules, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = alert(tenant, at=T0)
    await rules.publish(event)
    await rules.routed_for(event.alert_id)
    (_, bearer), *_ = token(tenant, READ)
    capsys.readouterr()
    argv = [
        "--rules-addr",
        f"127.0.0.1:{rules.server.port}",
        "--token",
        str(bearer).removeprefix("Bearer "),
    ]
    code = await asyncio.to_thread(main, [*argv, "rules", "decision", event.alert_id, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["decision"]["kind"] == "DECISION_KIND_UNMATCHED"
