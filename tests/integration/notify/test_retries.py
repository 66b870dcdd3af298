"""NotifyService retries: a request repeated with its ``request_id`` gets the first answer.

Each test repeats a mutation the way a client whose reply got lost would, and checks both
the answer and the stored state, so a retry that applied its effect again would fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import grpc
import pytest

from tests.integration.notify.flows import SECRET, mask, policy, webhook_channel
from tests.integration.notify.harness import Harness, opened, poll
from tests.integration.notify.receivers import Answer, HttpReceiver
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub(harness: Harness) -> AsyncIterator[api_grpc.NotifyServiceAsyncStub]:
    async with harness.channel() as channel:
        yield api_grpc.NotifyServiceStub(channel)


def rid() -> str:
    return str(uuid.uuid4())


def ops_policy(channel_id: str, name: str = "to ops") -> pb.NotificationPolicy:
    return pb.NotificationPolicy(
        display_name=name,
        event_types=[pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED],
        channel_ids=[channel_id],
    )


async def policies(
    stub: api_grpc.NotifyServiceAsyncStub, harness: Harness
) -> list[pb.NotificationPolicy]:
    listed = await stub.ListNotificationPolicies(
        api.ListNotificationPoliciesRequest(page_size=500), metadata=harness.metadata()
    )
    return list(listed.notification_policies)


async def channels(stub: api_grpc.NotifyServiceAsyncStub, harness: Harness) -> list[pb.Channel]:
    listed = await stub.ListChannels(
        api.ListChannelsRequest(page_size=500), metadata=harness.metadata()
    )
    return list(listed.channels)


async def test_create_policy_retry_returns_the_same_policy(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    channel = await webhook_channel(harness, "http://127.0.0.1:9")
    request = api.CreateNotificationPolicyRequest(
        request_id=rid(), notification_policy=ops_policy(channel.id)
    )
    first = await stub.CreateNotificationPolicy(request, metadata=harness.metadata())
    again = await stub.CreateNotificationPolicy(request, metadata=harness.metadata())
    assert again == first
    assert again.notification_policy.id == first.notification_policy.id
    assert [p.id for p in await policies(stub, harness)] == [first.notification_policy.id]


async def test_concurrent_create_policy_retries_make_one_policy(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    channel = await webhook_channel(harness, "http://127.0.0.1:9")
    request = api.CreateNotificationPolicyRequest(
        request_id=rid(), notification_policy=ops_policy(channel.id)
    )
    replies = await asyncio.gather(
        *(stub.CreateNotificationPolicy(request, metadata=harness.metadata()) for _ in range(6))
    )
    assert all(r == replies[0] for r in replies)
    assert [p.id for p in await policies(stub, harness)] == [replies[0].notification_policy.id]


async def test_create_policy_request_id_is_per_method_and_tenant(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    # The same key on another tenant's call is another request; and a fresh key after a
    # first create is a second policy, so the single policy above comes from the replay.
    channel = await webhook_channel(harness, "http://127.0.0.1:9")
    key = rid()
    first = await stub.CreateNotificationPolicy(
        api.CreateNotificationPolicyRequest(
            request_id=key, notification_policy=ops_policy(channel.id, "one")
        ),
        metadata=harness.metadata(),
    )
    second = await stub.CreateNotificationPolicy(
        api.CreateNotificationPolicyRequest(
            request_id=rid(), notification_policy=ops_policy(channel.id, "two")
        ),
        metadata=harness.metadata(),
    )
    assert second.notification_policy.id != first.notification_policy.id
    stranger = harness.metadata(tenant_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateNotificationPolicy(
            api.CreateNotificationPolicyRequest(
                request_id=key, notification_policy=ops_policy(channel.id, "one")
            ),
            metadata=stranger,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {p.display_name for p in await policies(stub, harness)} == {"one", "two"}


async def test_update_channel_retry_after_a_later_update_keeps_the_later_one(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9", name="hook")
    first_request = api.UpdateChannelRequest(
        request_id=rid(),
        channel=pb.Channel(id=created.id, display_name="first name"),
        update_mask=mask("display_name"),
    )
    first = await stub.UpdateChannel(first_request, metadata=harness.metadata())
    assert first.channel.display_name == "first name"
    second = await stub.UpdateChannel(
        api.UpdateChannelRequest(
            request_id=rid(),
            channel=pb.Channel(id=created.id, display_name="second name"),
            update_mask=mask("display_name"),
        ),
        metadata=harness.metadata(),
    )
    assert second.channel.etag != first.channel.etag
    again = await stub.UpdateChannel(first_request, metadata=harness.metadata())
    assert again == first
    got = await stub.GetChannel(
        api.GetChannelRequest(channel_id=created.id), metadata=harness.metadata()
    )
    assert got.channel.display_name == "second name"
    assert got.channel.etag == second.channel.etag


async def test_update_channel_retry_with_its_etag_is_not_aborted(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9", name="hook")
    first_request = api.UpdateChannelRequest(
        request_id=rid(),
        channel=pb.Channel(
            id=created.id,
            etag=created.etag,
            webhook=pb.WebhookConfig(url="http://127.0.0.1:10/first"),
        ),
        update_mask=mask("webhook.url"),
    )
    first = await stub.UpdateChannel(first_request, metadata=harness.metadata())
    second = await stub.UpdateChannel(
        api.UpdateChannelRequest(
            request_id=rid(),
            channel=pb.Channel(id=created.id, etag=first.channel.etag, disabled=True),
            update_mask=mask("disabled"),
        ),
        metadata=harness.metadata(),
    )
    # The first request's etag is stale now: only a replay can answer it without ABORTED.
    again = await stub.UpdateChannel(first_request, metadata=harness.metadata())
    assert again == first
    got = await stub.GetChannel(
        api.GetChannelRequest(channel_id=created.id), metadata=harness.metadata()
    )
    assert got.channel.disabled
    assert got.channel.webhook.url == "http://127.0.0.1:10/first"
    assert got.channel.webhook.has_signing_secret
    assert got.channel.etag == second.channel.etag


async def test_delete_channel_retry_answers_as_the_first_time(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9", name="hook")
    kept = await webhook_channel(harness, "http://127.0.0.1:9", name="kept")
    request = api.DeleteChannelRequest(request_id=rid(), channel_id=created.id, etag=created.etag)
    first = await stub.DeleteChannel(request, metadata=harness.metadata())
    again = await stub.DeleteChannel(request, metadata=harness.metadata())
    assert again == first == api.DeleteChannelResponse()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteChannel(
            api.DeleteChannelRequest(request_id=rid(), channel_id=created.id),
            metadata=harness.metadata(),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert [c.id for c in await channels(stub, harness)] == [kept.id]


async def test_update_policy_retry_after_a_later_update_keeps_the_later_one(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    one = await webhook_channel(harness, "http://127.0.0.1:9", name="one")
    two = await webhook_channel(harness, "http://127.0.0.1:9", name="two")
    rule = await policy(harness, [one.id])
    first_request = api.UpdateNotificationPolicyRequest(
        request_id=rid(),
        notification_policy=pb.NotificationPolicy(id=rule.id, display_name="first name"),
        update_mask=mask("display_name"),
    )
    first = await stub.UpdateNotificationPolicy(first_request, metadata=harness.metadata())
    assert first.notification_policy.display_name == "first name"
    second = await stub.UpdateNotificationPolicy(
        api.UpdateNotificationPolicyRequest(
            request_id=rid(),
            notification_policy=pb.NotificationPolicy(
                id=rule.id, display_name="second name", channel_ids=[two.id]
            ),
            update_mask=mask("display_name", "channel_ids"),
        ),
        metadata=harness.metadata(),
    )
    again = await stub.UpdateNotificationPolicy(first_request, metadata=harness.metadata())
    assert again == first
    got = await stub.GetNotificationPolicy(
        api.GetNotificationPolicyRequest(notification_policy_id=rule.id),
        metadata=harness.metadata(),
    )
    assert got.notification_policy.display_name == "second name"
    assert list(got.notification_policy.channel_ids) == [two.id]
    assert got.notification_policy.etag == second.notification_policy.etag
    assert len(await policies(stub, harness)) == 1


async def test_update_policy_retry_with_its_etag_is_not_aborted(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    channel = await webhook_channel(harness, "http://127.0.0.1:9")
    rule = await policy(harness, [channel.id])
    first_request = api.UpdateNotificationPolicyRequest(
        request_id=rid(),
        notification_policy=pb.NotificationPolicy(id=rule.id, etag=rule.etag, disabled=True),
        update_mask=mask("disabled"),
    )
    first = await stub.UpdateNotificationPolicy(first_request, metadata=harness.metadata())
    second = await stub.UpdateNotificationPolicy(
        api.UpdateNotificationPolicyRequest(
            request_id=rid(),
            notification_policy=pb.NotificationPolicy(
                id=rule.id, etag=first.notification_policy.etag, display_name="renamed"
            ),
            update_mask=mask("display_name"),
        ),
        metadata=harness.metadata(),
    )
    again = await stub.UpdateNotificationPolicy(first_request, metadata=harness.metadata())
    assert again == first
    got = await stub.GetNotificationPolicy(
        api.GetNotificationPolicyRequest(notification_policy_id=rule.id),
        metadata=harness.metadata(),
    )
    assert got.notification_policy.disabled
    assert got.notification_policy.display_name == "renamed"
    assert got.notification_policy.etag == second.notification_policy.etag


async def test_delete_policy_retry_answers_as_the_first_time(
    harness: Harness, stub: api_grpc.NotifyServiceAsyncStub
) -> None:
    channel = await webhook_channel(harness, "http://127.0.0.1:9")
    rule = await policy(harness, [channel.id])
    kept = await policy(harness, [channel.id], disabled=True)
    request = api.DeleteNotificationPolicyRequest(
        request_id=rid(), notification_policy_id=rule.id, etag=rule.etag
    )
    first = await stub.DeleteNotificationPolicy(request, metadata=harness.metadata())
    again = await stub.DeleteNotificationPolicy(request, metadata=harness.metadata())
    assert again == first == api.DeleteNotificationPolicyResponse()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteNotificationPolicy(
            api.DeleteNotificationPolicyRequest(request_id=rid(), notification_policy_id=rule.id),
            metadata=harness.metadata(),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert [p.id for p in await policies(stub, harness)] == [kept.id]


async def test_retry_delivery_retry_answers_as_the_first_time(
    harness: Harness,
    stub: api_grpc.NotifyServiceAsyncStub,
    receiver_factory: Callable[..., HttpReceiver],
) -> None:
    receiver = receiver_factory(secret=SECRET, default=lambda _s: Answer(410)).start()
    channel = await webhook_channel(harness, receiver.url)
    await policy(harness, [channel.id])
    event = await harness.publish("ticket.opened", opened())

    async def dead() -> bool:
        rows = await harness.deliveries(event.event_id)
        return len(rows) == 1 and rows[0]["status"] == "dead"

    await poll(dead)
    delivery_id = str((await harness.deliveries(event.event_id))[0]["id"])
    receiver.default = lambda _s: Answer(200)
    request = api.RetryDeliveryRequest(request_id=rid(), delivery_id=delivery_id)
    first = await stub.RetryDelivery(request, metadata=harness.metadata())
    assert first.delivery.status == pb.DELIVERY_STATUS_QUEUED

    async def delivered() -> bool:
        rows = await harness.deliveries(event.event_id)
        return bool(rows[0]["status"] == "delivered")

    await poll(delivered)
    # Delivered now, so a second application would be FAILED_PRECONDITION.
    again = await stub.RetryDelivery(request, metadata=harness.metadata())
    assert again == first
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RetryDelivery(
            api.RetryDeliveryRequest(request_id=rid(), delivery_id=delivery_id),
            metadata=harness.metadata(),
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    got = await stub.GetDelivery(
        api.GetDeliveryRequest(delivery_id=delivery_id), metadata=harness.metadata()
    )
    assert got.delivery.status == pb.DELIVERY_STATUS_DELIVERED
    assert [a.success for a in got.delivery.attempts] == [False, True]
    assert receiver.count() == 2
