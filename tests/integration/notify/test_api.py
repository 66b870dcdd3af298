"""The NotifyService gRPC API: secrets, tenancy, validation, idempotency, deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.notify.flows import SECRET, mask, policy, webhook_channel
from tests.integration.notify.harness import Harness, opened, poll
from tests.integration.notify.receivers import Answer, HttpReceiver
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration


def _violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    out: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.update({v.field: v.description for v in bad.field_violations})
    return out


async def test_secrets_are_write_only(harness: Harness) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9", name="secret hook")
    assert created.webhook.signing_secret == ""
    assert created.webhook.has_signing_secret
    assert not created.webhook.has_bearer_token
    assert created.kind == pb.CHANNEL_KIND_WEBHOOK
    assert created.circuit_state == pb.CIRCUIT_STATE_CLOSED
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        got = (
            await stub.GetChannel(
                api.GetChannelRequest(channel_id=created.id), metadata=harness.metadata()
            )
        ).channel
        assert got.webhook.signing_secret == ""
        assert got.webhook.url == "http://127.0.0.1:9/hook"
        updated = (
            await stub.UpdateChannel(
                api.UpdateChannelRequest(
                    channel=pb.Channel(
                        id=created.id,
                        etag=got.etag,
                        webhook=pb.WebhookConfig(url="http://127.0.0.1:10/x", bearer_token="b"),
                    ),
                    update_mask=mask("webhook.url", "webhook.bearer_token"),
                ),
                metadata=harness.metadata(),
            )
        ).channel
        assert updated.webhook.url == "http://127.0.0.1:10/x"
        assert updated.webhook.has_signing_secret and updated.webhook.has_bearer_token
        assert updated.webhook.bearer_token == ""
        assert updated.etag != got.etag
        with pytest.raises(grpc.aio.AioRpcError) as stale:
            await stub.UpdateChannel(
                api.UpdateChannelRequest(
                    channel=pb.Channel(id=created.id, etag=got.etag, disabled=True),
                    update_mask=mask("disabled"),
                ),
                metadata=harness.metadata(),
            )
        assert stale.value.code() == grpc.StatusCode.ABORTED
        listed = await stub.ListChannels(api.ListChannelsRequest(), metadata=harness.metadata())
    assert [c.id for c in listed.channels] == [created.id]
    assert 'signing_secret": "' not in str(listed)
    async with harness.db.system_transaction() as session:
        from sqlalchemy import select

        from services.notify.models import channels

        sealed = (await session.execute(select(channels.c.secrets))).scalar_one()
    assert SECRET.encode() not in bytes(sealed)


async def test_another_tenants_resources_are_not_found(harness: Harness) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9")
    rule = await policy(harness, [created.id])
    stranger = harness.metadata(tenant_id=str(uuid.uuid4()))
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        for call in (
            stub.GetChannel(api.GetChannelRequest(channel_id=created.id), metadata=stranger),
            stub.DeleteChannel(api.DeleteChannelRequest(channel_id=created.id), metadata=stranger),
            stub.GetNotificationPolicy(
                api.GetNotificationPolicyRequest(notification_policy_id=rule.id),
                metadata=stranger,
            ),
            stub.SendTestNotification(
                api.SendTestNotificationRequest(channel_id=created.id), metadata=stranger
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await stub.ListChannels(api.ListChannelsRequest(), metadata=stranger)
        assert list(listed.channels) == []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateNotificationPolicy(
                api.CreateNotificationPolicyRequest(
                    notification_policy=pb.NotificationPolicy(
                        display_name="steal",
                        event_types=[pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED],
                        channel_ids=[created.id],
                    )
                ),
                metadata=stranger,
            )
        assert _violations(caught.value) == {
            "notification_policy.channel_ids[0]": "no such channel"
        }


async def test_bad_config_is_refused_with_field_violations(harness: Harness) -> None:
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateChannel(
                api.CreateChannelRequest(
                    channel=pb.Channel(
                        display_name="",
                        webhook=pb.WebhookConfig(url="ftp://nope", signing_secret="s"),
                        template=pb.MessageTemplate(subject_template="{{ broken"),
                        digest=pb.DigestSettings(min_messages=1),
                    )
                ),
                metadata=harness.metadata(),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        violations = _violations(caught.value)
        assert set(violations) == {
            "channel.display_name",
            "channel.webhook.url",
            "channel.template.subject_template",
            "channel.digest.min_messages",
        }
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateChannel(
                api.CreateChannelRequest(
                    channel=pb.Channel(
                        display_name="mail",
                        smtp=pb.SmtpConfig(host="mx", from_address="not-an-address"),
                    )
                ),
                metadata=harness.metadata(),
            )
        assert "channel.smtp.from_address" in _violations(caught.value)
        reader = harness.metadata(scopes=["notify:read"])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateChannel(api.CreateChannelRequest(), metadata=reader)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_create_is_idempotent_and_delete_guards_policies(harness: Harness) -> None:
    request = api.CreateChannelRequest(
        request_id=str(uuid.uuid4()),
        channel=pb.Channel(
            display_name="ntfy",
            ntfy=pb.NtfyConfig(server_url="http://127.0.0.1:9", topic="ops", access_token="t"),
        ),
    )
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        first = await stub.CreateChannel(request, metadata=harness.metadata())
        again = await stub.CreateChannel(request, metadata=harness.metadata())
        assert first == again
        assert first.channel.ntfy.has_access_token
        rule = await policy(harness, [first.channel.id])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.DeleteChannel(
                api.DeleteChannelRequest(channel_id=first.channel.id),
                metadata=harness.metadata(),
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await stub.DeleteNotificationPolicy(
            api.DeleteNotificationPolicyRequest(notification_policy_id=rule.id),
            metadata=harness.metadata(),
        )
        await stub.DeleteChannel(
            api.DeleteChannelRequest(channel_id=first.channel.id), metadata=harness.metadata()
        )
        listed = await stub.ListChannels(api.ListChannelsRequest(), metadata=harness.metadata())
        assert list(listed.channels) == []


async def test_send_test_reports_at_once(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    receiver.script.append(Answer(200, {"X-Request-Id": "req-1"}))
    created = await webhook_channel(harness, receiver.url)
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        request = api.SendTestNotificationRequest(
            channel_id=created.id, message="hello", request_id=str(uuid.uuid4())
        )
        ok = await stub.SendTestNotification(request, metadata=harness.metadata())
        assert ok.status == pb.DELIVERY_STATUS_DELIVERED
        assert ok.response_code == 200
        assert ok.provider_request_id == "req-1"
        assert ok.latency.ToTimedelta().total_seconds() > 0
        assert await stub.SendTestNotification(request, metadata=harness.metadata()) == ok
        assert receiver.count() == 1
        receiver.script.append(Answer(404))
        failed = await stub.SendTestNotification(
            api.SendTestNotificationRequest(channel_id=created.id), metadata=harness.metadata()
        )
    assert failed.status == pb.DELIVERY_STATUS_FAILED
    assert failed.error_class == pb.ERROR_CLASS_NOT_FOUND
    assert failed.response_code == 404
    assert all(s.signature_valid for s in receiver.seen)


async def test_list_get_and_retry_deliveries(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET, default=lambda _s: Answer(410)).start()
    created = await webhook_channel(harness, receiver.url)
    await policy(harness, [created.id])
    events = [await harness.publish("ticket.opened", opened(n)) for n in range(3)]

    async def all_dead() -> bool:
        rows = await harness.deliveries()
        return len(rows) == 3 and all(r["status"] == "dead" for r in rows)

    await poll(all_dead)
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        seen: list[str] = []
        token = ""
        while True:
            page = await stub.ListDeliveries(
                api.ListDeliveriesRequest(
                    page_size=2, page_token=token, statuses=[pb.DELIVERY_STATUS_DEAD]
                ),
                metadata=harness.metadata(),
            )
            seen += [d.event_id for d in page.deliveries]
            assert all(len(d.attempts) == 1 for d in page.deliveries)
            token = page.next_page_token
            if not token:
                break
        assert sorted(seen) == sorted(e.event_id for e in events)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListDeliveries(
                api.ListDeliveriesRequest(page_size=2, page_token=page.next_page_token or "x"),
                metadata=harness.metadata(),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        target = (
            await stub.ListDeliveries(
                api.ListDeliveriesRequest(event_id=events[0].event_id),
                metadata=harness.metadata(),
            )
        ).deliveries[0]
        assert target.status == pb.DELIVERY_STATUS_DEAD
        assert target.event_type == pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED
        assert target.attempts[0].error_class == pb.ERROR_CLASS_NOT_FOUND
        receiver.default = lambda _s: Answer(200)
        retried = await stub.RetryDelivery(
            api.RetryDeliveryRequest(delivery_id=target.id), metadata=harness.metadata()
        )
        assert retried.delivery.status == pb.DELIVERY_STATUS_QUEUED

        async def delivered() -> bool:
            got = await stub.GetDelivery(
                api.GetDeliveryRequest(delivery_id=target.id), metadata=harness.metadata()
            )
            return got.delivery.status == pb.DELIVERY_STATUS_DELIVERED

        await poll(delivered)
        got = await stub.GetDelivery(
            api.GetDeliveryRequest(delivery_id=target.id), metadata=harness.metadata()
        )
        assert [a.success for a in got.delivery.attempts] == [False, True]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RetryDelivery(
                api.RetryDeliveryRequest(delivery_id=target.id), metadata=harness.metadata()
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetDelivery(
                api.GetDeliveryRequest(delivery_id=target.id),
                metadata=harness.metadata(tenant_id=str(uuid.uuid4())),
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
