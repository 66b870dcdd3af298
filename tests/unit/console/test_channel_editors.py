"""Channel and policy editors: the form <-> message logic and the calls they make."""

from __future__ import annotations

import httpx

from services.console.mesh import ApiError
from services.console.views.channel_form import channel_from_form, policy_from_form
from tests.unit.console.test_app import FakeMesh, sign_in
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import resources_pb2 as notify_res
from triage.tickets.v1 import resources_pb2 as tickets_res


def test_new_webhook_channel_sends_its_secrets_and_config_paths() -> None:
    channel, paths, errors = channel_from_form(
        {
            "display_name": ["Ops hook"],
            "kind": ["webhook"],
            "url": ["https://hooks.example/ops"],
            "signing_secret": ["s3cret"],
            "webhook_url": ["", ""],
        }
    )
    assert not errors
    assert channel.WhichOneof("config") == "webhook"
    assert channel.kind == notify_res.CHANNEL_KIND_WEBHOOK
    assert channel.webhook.signing_secret == "s3cret"
    assert {"webhook.url", "webhook.signing_secret", "display_name"} <= set(paths)


def test_edit_keeps_blank_secrets_and_slack_takes_the_filled_url() -> None:
    stored = notify_res.Channel(
        id="c1",
        display_name="ntfy",
        kind=notify_res.CHANNEL_KIND_NTFY,
        ntfy=notify_res.NtfyConfig(server_url="https://ntfy.sh", topic="a", has_access_token=True),
    )
    channel, paths, _ = channel_from_form(
        {"display_name": ["ntfy"], "kind": ["webhook"], "topic": ["b"], "access_token": [""]},
        base=stored,
    )
    assert channel.WhichOneof("config") == "ntfy", "an edit cannot change the kind"
    assert channel.ntfy.topic == "b"
    assert "ntfy.access_token" not in paths and "ntfy.topic" in paths
    slack, paths, _ = channel_from_form(
        {"display_name": ["s"], "kind": ["slack"], "webhook_url": ["https://hooks.slack/x", ""]}
    )
    assert slack.slack.webhook_url == "https://hooks.slack/x"
    _, _, errors = channel_from_form({"kind": ["pigeon"]})
    assert "kind" in errors
    _, _, errors = channel_from_form({"kind": ["smtp"], "port": ["twenty-five"]})
    assert "port" in errors


def test_policy_form() -> None:
    policy, paths = policy_from_form(
        {
            "display_name": ["P1 to phone"],
            "event_types": ["ticket_opened", "nonsense"],
            "channel_ids": ["c1", "c2"],
            "priorities": ["p1"],
            "client_ids": ["acme, globex"],
            "min_severity": ["critical"],
        }
    )
    assert list(policy.event_types) == [notify_res.NOTIFICATION_EVENT_TYPE_TICKET_OPENED]
    assert list(policy.channel_ids) == ["c1", "c2"]
    assert list(policy.filter.priorities) == [tickets_res.PRIORITY_P1]
    assert list(policy.filter.client_ids) == ["acme", "globex"]
    assert "filter" in paths and "event_types" in paths


async def test_channel_api_errors_beside_fields_and_disable_sends_the_etag(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    mesh.answers["CreateChannel"] = ApiError(
        "INVALID_ARGUMENT", "bad channel", {"channel.webhook.url": "must be an http(s) URL"}
    )
    reply = await client.post(
        "/notifications/channels/new",
        data={"csrf_token": csrf, "display_name": "x", "kind": "webhook", "url": "ftp://x"},
    )
    assert reply.status_code == 400
    assert 'id="url-error"' in reply.text and "must be an http(s) URL" in reply.text
    mesh.answers["UpdateChannel"] = notify_api.UpdateChannelResponse()
    reply = await client.post(
        "/notifications/channels/c1/toggle",
        data={"csrf_token": csrf, "etag": "e9", "disabled": "true"},
    )
    assert reply.status_code == 303
    sent = next(r for _, m, r in mesh.calls if m == "UpdateChannel")
    assert isinstance(sent, notify_api.UpdateChannelRequest)
    assert (sent.channel.id, sent.channel.etag, sent.channel.disabled) == ("c1", "e9", True)
    assert list(sent.update_mask.paths) == ["disabled"]


async def test_notifications_page_pages_channels_and_policies(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    mesh.answers["ListChannels"] = notify_api.ListChannelsResponse(
        channels=[notify_res.Channel(id="c1", display_name="Ops")], next_page_token="next-c"
    )
    mesh.answers["ListNotificationPolicies"] = notify_api.ListNotificationPoliciesResponse(
        next_page_token="next-p"
    )
    page = await client.get("/notifications?channels_token=tok")
    assert page.status_code == 200
    assert "channels_token=next-c" in page.text and "policies_token=next-p" in page.text
    asked = next(r for _, m, r in mesh.calls if m == "ListChannels")
    assert isinstance(asked, notify_api.ListChannelsRequest)
    assert asked.page_token == "tok"
    assert 'href="/notifications/channels/c1"' in page.text


async def test_payload_preview_per_event_type(client: httpx.AsyncClient, mesh: FakeMesh) -> None:
    await sign_in(client)
    mesh.answers["ListChannels"] = notify_api.ListChannelsResponse(
        channels=[notify_res.Channel(id="c1", display_name="Ops")]
    )
    page = await client.get("/notifications")
    assert 'hx-get="/notifications/channels/c1/preview"' in page.text
    assert 'value="sla_breached"' in page.text
    mesh.answers["PreviewChannelMessage"] = notify_api.PreviewChannelMessageResponse(
        title="SLA breached (resolution): Ticket #1042",
        payload='{"title": "SLA breached <b>"}',
        payload_content_type="application/json",
    )
    fragment = await client.get(
        "/notifications/channels/c1/preview?event=sla_breached", headers={"hx-request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "SLA breached (resolution)" in fragment.text
    assert "&lt;b&gt;" in fragment.text, "the payload is escaped"
    asked = next(r for _, m, r in mesh.calls if m == "PreviewChannelMessage")
    assert isinstance(asked, notify_api.PreviewChannelMessageRequest)
    assert asked.channel_id == "c1"
    assert asked.event_type == notify_res.NOTIFICATION_EVENT_TYPE_SLA_BREACHED
