"""Setting up channels and policies through the gRPC API, as an operator would."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import field_mask_pb2

from tests.integration.notify.harness import Harness
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb

SECRET = "whsec-test-0123456789"


async def create_channel(harness: Harness, channel: pb.Channel) -> pb.Channel:
    """Create a channel through the API."""
    async with harness.channel() as ch:
        reply = await api_grpc.NotifyServiceStub(ch).CreateChannel(
            api.CreateChannelRequest(channel=channel), metadata=harness.metadata()
        )
    return reply.channel


async def webhook_channel(
    harness: Harness, url: str, *, name: str = "ops hook", **extra: object
) -> pb.Channel:
    """A signed webhook channel to ``url``."""
    return await create_channel(
        harness,
        pb.Channel(
            display_name=name,
            webhook=pb.WebhookConfig(url=url + "/hook", signing_secret=SECRET),
            **extra,  # type: ignore[arg-type]
        ),
    )


async def policy(
    harness: Harness,
    channel_ids: Sequence[str],
    event_types: Sequence[int] = (pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED,),
    **extra: object,
) -> pb.NotificationPolicy:
    """A policy sending ``event_types`` to ``channel_ids``."""
    async with harness.channel() as ch:
        reply = await api_grpc.NotifyServiceStub(ch).CreateNotificationPolicy(
            api.CreateNotificationPolicyRequest(
                notification_policy=pb.NotificationPolicy(
                    display_name="to ops",
                    event_types=list(event_types),  # type: ignore[arg-type]
                    channel_ids=list(channel_ids),
                    **extra,  # type: ignore[arg-type]
                )
            ),
            metadata=harness.metadata(),
        )
    return reply.notification_policy


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    """An update mask."""
    return field_mask_pb2.FieldMask(paths=list(paths))
