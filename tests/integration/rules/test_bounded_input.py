"""Issue 14 over gRPC: a recurrence, regex or template from one tenant cannot stall the service."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert, token
from tests.integration.rules.test_api import violations
from tests.integration.rules.test_routing import create_rule
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime.events import to_timestamp

pytestmark = pytest.mark.integration
READ, WRITE = "rules:read", "rules:write"
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


async def test_interval_zero_window_is_invalid_argument_on_rrule(rules: Rules, tenant: str) -> None:
    window = pb.MaintenanceWindow(
        display_name="never ends",
        recurring=pb.RecurringSchedule(
            rrule="FREQ=DAILY;INTERVAL=0",
            time_zone="UTC",
            duration=Duration(seconds=3600),
            start_time=to_timestamp(T0),
        ),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.CreateMaintenanceWindow(
            api.CreateMaintenanceWindowRequest(maintenance_window=window),
            metadata=token(tenant, WRITE),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "INTERVAL" in violations(caught.value)["maintenance_window.recurring.rrule"]
    # Still answering: the create did not loop inside its transaction.
    listed = await rules.stub.ListMaintenanceWindows(
        api.ListMaintenanceWindowsRequest(), metadata=token(tenant, READ)
    )
    assert list(listed.maintenance_windows) == []


async def test_regex_re2_cannot_run_is_invalid_argument(rules: Rules, tenant: str) -> None:
    rule = pb.Rule(display_name="backref", conditions=pb.Conditions(message_regex=r"(a)\1"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rules.stub.CreateRule(api.CreateRuleRequest(rule=rule), metadata=token(tenant, WRITE))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "RE2" in violations(caught.value)["rule.conditions.message_regex"]


async def test_evaluate_with_catastrophic_regex_and_looping_template_answers(
    rules: Rules, tenant: str
) -> None:
    await create_rule(
        rules,
        tenant,
        pb.Rule(
            display_name="evil",
            conditions=pb.Conditions(message_regex=r"^(a+)+$"),
            actions=pb.Actions(
                ticket_action=pb.TICKET_ACTION_CREATE_TICKET, title_template="T" + NESTED
            ),
        ),
    )
    for message, kind in (
        ("a" * 2000 + "!", pb.DECISION_KIND_UNMATCHED),
        ("a" * 2000, pb.DECISION_KIND_ROUTED),
    ):
        reply = await rules.stub.EvaluateAlert(
            api.EvaluateAlertRequest(
                alert=alert(tenant, at=T0, message=message), evaluate_time=to_timestamp(T0)
            ),
            metadata=token(tenant, READ),
        )
        assert reply.decision.kind == kind


async def test_a_stored_window_the_tightened_checks_refuse_still_reads_back(
    rules: Rules, tenant: str
) -> None:
    """A window saved before the recurrence checks (written here straight into its row)
    is never in force, and Get/List still answer with it instead of failing."""
    from sqlalchemy import update

    from services.rules.models import windows

    window = pb.MaintenanceWindow(
        display_name="old daily",
        recurring=pb.RecurringSchedule(
            rrule="FREQ=DAILY",
            time_zone="UTC",
            duration=Duration(seconds=3600),
            start_time=to_timestamp(T0),
        ),
    )
    created = await rules.stub.CreateMaintenanceWindow(
        api.CreateMaintenanceWindowRequest(maintenance_window=window),
        metadata=token(tenant, WRITE),
    )
    window_id = created.maintenance_window.id
    async with rules.service.db.system_transaction() as session:
        await session.execute(
            update(windows).where(windows.c.id == window_id).values(rrule="FREQ=DAILY;INTERVAL=0")
        )
    got = await rules.stub.GetMaintenanceWindow(
        api.GetMaintenanceWindowRequest(window_id=window_id),
        metadata=token(tenant, READ),
    )
    assert got.maintenance_window.id == window_id
    assert got.maintenance_window.state == pb.MAINTENANCE_WINDOW_STATE_ENDED  # never in force
    listed = await rules.stub.ListMaintenanceWindows(
        api.ListMaintenanceWindowsRequest(
            states=[pb.MAINTENANCE_WINDOW_STATE_ENDED],
            start_time=to_timestamp(T0),
            end_time=to_timestamp(T0 + timedelta(days=30)),
        ),
        metadata=token(tenant, READ),
    )
    assert list(listed.maintenance_windows) == []  # in force at no time of the span
