"""NotifyService.PreviewChannelMessage: a sample event rendered through a channel's
templates, read-only; bad input is INVALID_ARGUMENT with fields; tenancy and scopes hold."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.notify.flows import SECRET, webhook_channel
from tests.integration.notify.harness import AUTHORITY, Harness
from triage.cli.main import main
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration
EVENT_TYPES = [v for v in pb.NotificationEventType.values() if v]


def _fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    bad = error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            detail.Unpack(bad)
    return [v.field for v in bad.field_violations]


async def test_every_event_type_previews_through_a_webhook_channel_and_nothing_is_sent(
    harness: Harness,
) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9")
    reader = harness.metadata(scopes=("notify:read",))
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        for event_type in EVENT_TYPES:
            shown = await stub.PreviewChannelMessage(
                api.PreviewChannelMessageRequest(channel_id=created.id, event_type=event_type),
                metadata=reader,
            )
            assert shown.title and shown.payload_content_type == "application/json"
            body = json.loads(shown.payload)
            assert body["title"] == shown.title
            assert SECRET not in shown.payload
        listed = await stub.ListDeliveries(api.ListDeliveriesRequest(), metadata=reader)
    assert list(listed.deliveries) == []


async def test_unsaved_templates_render_for_a_kind_and_bad_ones_are_field_errors(
    harness: Harness,
) -> None:
    auth = harness.metadata(scopes=("notify:read",))
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        shown = await stub.PreviewChannelMessage(
            api.PreviewChannelMessageRequest(
                kind=pb.CHANNEL_KIND_NTFY,
                event_type=pb.NOTIFICATION_EVENT_TYPE_SLA_BREACHED,
                template=pb.MessageTemplate(body_template="Due: {{ fields.Due }} ({{ title }})"),
            ),
            metadata=auth,
        )
        assert shown.text.startswith("Due: ") and "SLA breached" in shown.text
        assert shown.payload_content_type == "text/plain" and shown.payload == shown.text
        bad = [
            (
                api.PreviewChannelMessageRequest(
                    event_type=pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED
                ),
                "channel_id",
            ),
            (api.PreviewChannelMessageRequest(kind=pb.CHANNEL_KIND_NTFY), "event_type"),
            (
                api.PreviewChannelMessageRequest(
                    kind=pb.CHANNEL_KIND_NTFY,
                    event_type=pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED,
                    template=pb.MessageTemplate(body_template="{{ unclosed"),
                ),
                "template.body_template",
            ),
        ]
        for request, field in bad:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.PreviewChannelMessage(request, metadata=auth)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in _fields(caught.value)


async def test_another_tenants_channel_is_not_found_and_scope_is_checked(
    harness: Harness,
) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9")
    request = api.PreviewChannelMessageRequest(
        channel_id=created.id, event_type=pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED
    )
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await stub.PreviewChannelMessage(
                request, metadata=harness.metadata(tenant_id=str(uuid.uuid4()))
            )
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.PreviewChannelMessage(
                request, metadata=harness.metadata(scopes=("tickets:read",))
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_cli_channels_preview(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    created = await webhook_channel(harness, "http://127.0.0.1:9")
    token = AUTHORITY.issue(subject="cli", tenant_id=harness.tenant_id, scopes=["notify:read"])
    capsys.readouterr()
    argv = [
        "--notify-addr",
        f"127.0.0.1:{harness.server.port}",
        "--token",
        token,
        "channels",
        "preview",
    ]
    code = await asyncio.to_thread(main, [*argv, created.id, "--event", "sla.threshold", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "SLA 75% used" in json.loads(out)["title"]
