"""After a tenant's deletion, a write with its still-valid token is refused at once by the
services that deleted it (their cached "active" standing goes with the rows), so nothing of
the tenant comes back."""

from __future__ import annotations

import uuid

import grpc
import pytest

from tests.integration.offboarding.cluster import cluster, seed, tenant_rows
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.tenancy.v1 import offboarding_pb2 as off_api

pytestmark = pytest.mark.integration
REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


async def test_a_deleted_tenants_writes_are_refused(fresh_db: str, nats_url: str) -> None:
    async with cluster(fresh_db, nats_url) as running:
        gone = await running.new_tenant("leaving")
        await seed(running, gone)
        md = running.tenant(gone)
        rules = rules_grpc.RulesServiceStub(running.channel("rules"))
        notify = notify_grpc.NotifyServiceStub(running.channel("notify"))
        # Each service has just admitted the tenant (its standing is cached as active).
        await rules.ListRules(rules_api.ListRulesRequest(), metadata=md)
        await notify.ListChannels(notify_api.ListChannelsRequest(), metadata=md)

        await running.offboarding().DeleteTenant(
            off_api.DeleteTenantRequest(tenant_id=gone), metadata=running.admin()
        )
        await running.completed(gone)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await rules.CreateRule(
                rules_api.CreateRuleRequest(
                    request_id=str(uuid.uuid4()),
                    rule=rules_pb.Rule(
                        display_name="late rule",
                        actions=rules_pb.Actions(
                            ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET
                        ),
                    ),
                ),
                metadata=md,
            )
        assert caught.value.code() in REFUSED, caught.value
        assert "tenant" in (caught.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await notify.CreateChannel(
                notify_api.CreateChannelRequest(
                    channel=notify_pb.Channel(
                        display_name="late hook",
                        webhook=notify_pb.WebhookConfig(
                            url="http://127.0.0.1:9/hook", signing_secret="s" * 32
                        ),
                    )
                ),
                metadata=md,
            )
        assert caught.value.code() in REFUSED, caught.value
        assert await tenant_rows(fresh_db, gone) == {}
