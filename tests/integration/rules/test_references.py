"""Rules and windows may only name the caller's own integrations and channels, and only
registered, active tenants may call (issue 14, finding 7)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import field_mask_pb2

from services.rules.models import SCHEMA, outbox
from services.rules.wiring import wire
from tests.integration.owners import Owners, asking, owners
from tests.service_harness import RunningService
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.rules.v1.rules_service_pb2_grpc import RulesServiceStub
from triage.runtime.events import to_timestamp
from triage.runtime.outbox import Outbox

if TYPE_CHECKING:
    from triage.rules.v1.rules_service_pb2_grpc import RulesServiceAsyncStub

pytestmark = pytest.mark.integration


@dataclass
class Mesh:
    """ingest, notify and rules, and two tenants with an integration and a channel each."""

    found: Owners
    rules: RunningService
    stub: RulesServiceAsyncStub
    mine: str
    theirs: str
    their_integration: str
    their_channel: str
    my_integration: str
    my_channel: str

    def md(self, tenant_id: str) -> tuple[tuple[str, str], ...]:
        """A rules writer of ``tenant_id``."""
        return self.rules.metadata(tenant_id, "rules:write")


@pytest.fixture
async def mesh(fresh_db: str, nats_url: str) -> AsyncIterator[Mesh]:
    async with owners(fresh_db, nats_url) as found:
        mine, theirs = await found.tenant("Mine"), await found.tenant("Theirs")
        async with (
            asking(
                found,
                name="rules",
                schema=SCHEMA,
                outbox=Outbox(outbox),
                wire=wire,
                nats_url=nats_url,
            ) as rules,
            grpc.aio.insecure_channel(rules.grpc_address) as channel,
        ):
            yield Mesh(
                found,
                rules,
                RulesServiceStub(channel),
                mine,
                theirs,
                await found.integration(theirs),
                await found.channel(theirs),
                await found.integration(mine),
                await found.channel(mine),
            )


async def _code(call: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


def _window(integration_id: str) -> pb.MaintenanceWindow:
    start = datetime.now(UTC) + timedelta(days=1)
    return pb.MaintenanceWindow(
        display_name="patching",
        one_off=pb.OneOffSchedule(
            start_time=to_timestamp(start), end_time=to_timestamp(start + timedelta(hours=2))
        ),
        scope=pb.WindowScope(integration_ids=[integration_id]),
    )


async def test_a_rule_naming_another_tenants_objects_is_not_found(mesh: Mesh) -> None:
    for rule in (
        pb.Rule(display_name="scoped", scope_integration_ids=[mesh.their_integration]),
        pb.Rule(
            display_name="matched",
            conditions=pb.Conditions(integration_ids=[mesh.their_integration]),
        ),
        pb.Rule(
            display_name="notified",
            actions=pb.Actions(notification_channel_ids=[mesh.their_channel]),
        ),
        pb.Rule(display_name="made up", scope_integration_ids=[str(uuid.uuid4())]),
    ):
        create = mesh.stub.CreateRule(api.CreateRuleRequest(rule=rule), metadata=mesh.md(mesh.mine))
        assert await _code(create) == grpc.StatusCode.NOT_FOUND, rule.display_name
    own = await mesh.stub.CreateRule(
        api.CreateRuleRequest(
            rule=pb.Rule(
                display_name="own",
                scope_integration_ids=[mesh.my_integration],
                actions=pb.Actions(notification_channel_ids=[mesh.my_channel]),
            )
        ),
        metadata=mesh.md(mesh.mine),
    )
    update = mesh.stub.UpdateRule(
        api.UpdateRuleRequest(
            rule=pb.Rule(
                id=own.rule.id, actions=pb.Actions(notification_channel_ids=[mesh.their_channel])
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["actions"]),
        ),
        metadata=mesh.md(mesh.mine),
    )
    assert await _code(update) == grpc.StatusCode.NOT_FOUND
    listed = await mesh.stub.ListRules(api.ListRulesRequest(), metadata=mesh.md(mesh.mine))
    assert [(r.display_name, list(r.actions.notification_channel_ids)) for r in listed.rules] == [
        ("own", [mesh.my_channel])
    ]


async def test_a_window_scoped_to_another_tenants_integration_is_not_found(mesh: Mesh) -> None:
    create = mesh.stub.CreateMaintenanceWindow(
        api.CreateMaintenanceWindowRequest(maintenance_window=_window(mesh.their_integration)),
        metadata=mesh.md(mesh.mine),
    )
    assert await _code(create) == grpc.StatusCode.NOT_FOUND
    own = await mesh.stub.CreateMaintenanceWindow(
        api.CreateMaintenanceWindowRequest(maintenance_window=_window(mesh.my_integration)),
        metadata=mesh.md(mesh.mine),
    )
    update = mesh.stub.UpdateMaintenanceWindow(
        api.UpdateMaintenanceWindowRequest(
            maintenance_window=pb.MaintenanceWindow(
                id=own.maintenance_window.id,
                scope=pb.WindowScope(integration_ids=[mesh.their_integration]),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["scope"]),
        ),
        metadata=mesh.md(mesh.mine),
    )
    assert await _code(update) == grpc.StatusCode.NOT_FOUND


async def test_tokens_of_unknown_or_suspended_tenants_are_refused(mesh: Mesh) -> None:
    nobody = str(uuid.uuid4())
    create = mesh.stub.CreateRule(
        api.CreateRuleRequest(rule=pb.Rule(display_name="ghost")), metadata=mesh.md(nobody)
    )
    assert await _code(create) == grpc.StatusCode.UNAUTHENTICATED
    await mesh.found.suspend(mesh.theirs)
    listed = mesh.stub.ListRules(api.ListRulesRequest(), metadata=mesh.md(mesh.theirs))
    assert await _code(listed) == grpc.StatusCode.PERMISSION_DENIED
    ok = await mesh.stub.ListRules(api.ListRulesRequest(), metadata=mesh.md(mesh.mine))
    assert list(ok.rules) == []
