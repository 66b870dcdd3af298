"""SLA thresholds may only notify the caller's own channels, and only registered, active
tenants may call (issue 14, finding 7)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from services.sla.models import SCHEMA, outbox
from services.sla.wiring import wire
from tests.integration.owners import asking, owners
from triage.runtime.outbox import Outbox
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub
from triage.tickets.v1 import resources_pb2 as tickets_pb

pytestmark = pytest.mark.integration


def _policy(name: str, channel_id: str) -> pb.SlaPolicy:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(minutes=30))
    return pb.SlaPolicy(
        display_name=name,
        scope=pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_CLIENT, client_id=name),
        targets=[
            pb.PriorityTargets(
                priority=tickets_pb.PRIORITY_P3,
                first_response=pb.SlaTarget(duration=duration),
                resolution=pb.SlaTarget(duration=duration),
            )
        ],
        thresholds=[
            pb.Threshold(
                percent=75,
                actions=[pb.ThresholdAction(notify=pb.NotifyAction(channel_ids=[channel_id]))],
            )
        ],
    )


async def test_thresholds_notifying_another_tenants_channel_are_not_found(
    fresh_db: str, nats_url: str
) -> None:
    async with owners(fresh_db, nats_url) as found:
        mine, theirs = await found.tenant("Mine"), await found.tenant("Theirs")
        my_channel, their_channel = await found.channel(mine), await found.channel(theirs)
        async with (
            asking(
                found,
                name="sla",
                schema=SCHEMA,
                outbox=Outbox(outbox),
                wire=wire,
                nats_url=nats_url,
            ) as sla,
            grpc.aio.insecure_channel(sla.grpc_address) as channel,
        ):
            stub = SlaServiceStub(channel)
            md = sla.metadata(mine, "sla:write")
            with pytest.raises(grpc.aio.AioRpcError) as foreign:
                await stub.CreateSlaPolicy(
                    api.CreateSlaPolicyRequest(sla_policy=_policy("acme", their_channel)),
                    metadata=md,
                )
            assert foreign.value.code() == grpc.StatusCode.NOT_FOUND
            own = await stub.CreateSlaPolicy(
                api.CreateSlaPolicyRequest(sla_policy=_policy("acme", my_channel)), metadata=md
            )
            changed = _policy("acme", their_channel)
            changed.id = own.sla_policy.id
            with pytest.raises(grpc.aio.AioRpcError) as updated:
                await stub.UpdateSlaPolicy(
                    api.UpdateSlaPolicyRequest(
                        sla_policy=changed,
                        update_mask=field_mask_pb2.FieldMask(paths=["thresholds"]),
                    ),
                    metadata=md,
                )
            assert updated.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as ghost:
                await stub.CreateSlaPolicy(
                    api.CreateSlaPolicyRequest(sla_policy=_policy("ghost", my_channel)),
                    metadata=sla.metadata(str(uuid.uuid4()), "sla:write"),
                )
            assert ghost.value.code() == grpc.StatusCode.UNAUTHENTICATED
