from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from email.header import decode_header, make_header

import httpx

from services.notify.clients.chat import ADAPTIVE_CARD_CONTENT_TYPE, SlackSender, TeamsSender
from services.notify.clients.ntfy import NtfySender
from services.notify.domain.model import ErrorClass, NotificationMessage
from tests.integration.notify_channels.servers import Received, Receiver, Reply


def _ntfy_answer(request: Received) -> Reply:
    topic = request.path.strip("/")
    published = {"id": "hF3kP9x2", "time": 1767225600, "event": "message", "topic": topic}
    return Reply(200, {"Content-Type": "application/json"}, json.dumps(published).encode())


def _decoded(value: str | None) -> str:
    assert value is not None
    return str(make_header(decode_header(value)))


async def test_ntfy_publish_with_headers_and_token(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(default=_ntfy_answer)
    config = {"server": receiver.url, "topic": "acme-alerts", "tags": ["server"]}

    result = await NtfySender(client).send(message, config, {"token": "tk_abc"})

    assert result.ok, result
    assert result.provider_request_id == "hF3kP9x2"
    (request,) = receiver.wait_for(1)
    assert request.path == "/acme-alerts"
    assert _decoded(request.header("Title")) == message.title
    assert request.header("Priority") == "4"
    assert request.header("Tags") == "warning,server"
    assert request.header("Click") == message.url
    assert request.header("Authorization") == "Bearer tk_abc"
    text = request.body.decode()
    assert text.startswith(message.body)
    assert "Device: ACME-DC01" in text


async def test_ntfy_basic_auth_and_unauthorised_topic(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(default=_ntfy_answer)
    receiver.script(Reply(403, body=b'{"code":40301,"http":403,"error":"forbidden"}'))
    config = {"server": receiver.url, "topic": "private"}

    result = await NtfySender(client).send(message, config, {"username": "u", "password": "p"})

    assert result.error_class is ErrorClass.AUTH
    assert result.permanent
    (request,) = receiver.wait_for(1)
    assert request.header("Authorization") == "Basic " + base64.b64encode(b"u:p").decode()


async def test_ntfy_custom_template_and_critical_priority(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(default=_ntfy_answer)
    config = {
        "server": receiver.url,
        "topic": "oncall",
        "templates": {"title": "{{ fields.Client }}: {{ title }}", "text": "{{ body }}"},
    }
    critical = dataclasses.replace(message, severity=5, url=None)
    result = await NtfySender(client).send(critical, config, {})
    assert result.ok, result
    (request,) = receiver.wait_for(1)
    assert _decoded(request.header("Title")) == f"Acme: {message.title}"
    assert request.header("Priority") == "5"
    assert request.header("Tags") == "rotating_light"
    assert request.header("Click") is None
    assert request.header("Authorization") is None
    assert request.body.decode() == message.body


async def test_slack_incoming_webhook(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(default=lambda _r: Reply(200, {"X-Slack-Req-Id": "s-1"}))
    secrets = {"webhook_url": receiver.url + "/services/T0/B0/secret"}

    result = await SlackSender(client).send(message, {}, secrets)

    assert result.ok, result
    assert result.provider_request_id == "s-1"
    (request,) = receiver.wait_for(1)
    assert request.path == "/services/T0/B0/secret"
    payload = json.loads(request.body)
    assert payload["text"] == f"[HIGH] {message.title}"
    assert [b["type"] for b in payload["blocks"]] == [
        "header",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert payload["blocks"][0]["text"]["text"] == message.title


async def test_slack_archived_channel_is_permanent(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(default=lambda _r: Reply(410, body=b"channel_is_archived"))
    result = await SlackSender(client).send(message, {}, {"webhook_url": receiver.url + "/h"})
    assert result.error_class is ErrorClass.NOT_FOUND
    assert result.permanent
    assert result.error == "HTTP 410: channel_is_archived"


async def test_teams_adaptive_card(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(default=lambda _r: Reply(202, body=b""))
    result = await TeamsSender(client).send(message, {}, {"webhook_url": receiver.url + "/wf"})
    assert result.ok, result
    assert result.status_code == 202
    (request,) = receiver.wait_for(1)
    assert request.header("Content-Type") == "application/json; charset=utf-8"
    payload = json.loads(request.body)
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == ADAPTIVE_CARD_CONTENT_TYPE
    assert attachment["content"]["version"] == "1.4"
    assert attachment["content"]["body"][0]["text"] == message.title


async def test_teams_server_error_is_retryable(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver()
    receiver.script(Reply(502, body=b"bad gateway"), Reply(200, body=b"1"))
    sender = TeamsSender(client)
    secrets = {"webhook_url": receiver.url + "/wf"}
    first = await sender.send(message, {}, secrets)
    second = await sender.send(message, {}, secrets)
    assert first.error_class is ErrorClass.SERVER_ERROR
    assert not first.permanent
    assert second.ok
