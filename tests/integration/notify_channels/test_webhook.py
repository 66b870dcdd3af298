from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from services.notify.clients.webhook import WebhookSender, verify_signature, webhook_body
from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.model import ErrorClass, NotificationMessage
from tests.integration.notify_channels.servers import Pki, Receiver, Reply, free_port

SECRET = "whsec_test_7f3a"


def _config(receiver: Receiver, **extra: object) -> dict[str, object]:
    return {"url": receiver.url + "/hooks/triage", "timeout_seconds": 5, **extra}


async def test_signed_body_reaches_a_verifying_receiver(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(
        signing_secret=SECRET, default=lambda _r: Reply(200, {"X-Request-Id": "req-42"})
    )
    key = idempotency_key(message.event_id, message.tenant_id, "chan-1", receiver.url)
    config = _config(receiver, headers={"X-Customer": "acme"})
    secrets = {"signing_secret": SECRET, "bearer_token": "tok-123"}

    result = await WebhookSender(client).send(message, config, secrets, idempotency_key=key)

    assert result.ok, result
    assert result.status_code == 200
    assert result.provider_request_id == "req-42"
    assert result.latency > 0
    (request,) = receiver.wait_for(1)
    assert request.path == "/hooks/triage"
    assert request.signature_valid is True
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Triage-Event-Id") == message.event_id
    assert request.header("Idempotency-Key") == key
    assert request.header("Authorization") == "Bearer tok-123"
    assert request.header("X-Customer") == "acme"
    assert json.loads(request.body) == webhook_body(message)
    signature = request.header("X-Triage-Signature")
    assert signature is not None
    signed_at = int(signature.split(",")[0].removeprefix("t="))
    assert abs(signed_at - time.time()) < 60
    assert not verify_signature(SECRET, signature, request.body, now=signed_at + 301)


async def test_receiver_rejecting_the_signature_is_a_permanent_auth_failure(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(signing_secret=SECRET)
    result = await WebhookSender(client).send(
        message, _config(receiver), {"signing_secret": "rotated-away"}
    )
    assert not result.ok
    assert result.status_code == 401
    assert result.error_class is ErrorClass.AUTH
    assert result.permanent


async def test_rotation_period_signature_verifies_with_either_secret(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    old_receiver = start_receiver(signing_secret="old")
    secrets = {"signing_secret": "new", "previous_signing_secret": "old"}
    result = await WebhookSender(client).send(message, _config(old_receiver), secrets)
    assert result.ok, result


async def test_server_error_then_success_is_retryable_and_idempotent(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver(signing_secret=SECRET)
    receiver.script(Reply(500, body=b"database unavailable"), Reply(200))
    sender = WebhookSender(client)
    secrets = {"signing_secret": SECRET}

    first = await sender.send(message, _config(receiver), secrets, idempotency_key="k-1")
    second = await sender.send(message, _config(receiver), secrets, idempotency_key="k-1")

    assert not first.ok
    assert first.error_class is ErrorClass.SERVER_ERROR
    assert first.status_code == 500
    assert not first.permanent
    assert first.error == "HTTP 500: database unavailable"
    assert second.ok
    requests = receiver.wait_for(2)
    assert len(requests) == 2
    assert {r.header("Idempotency-Key") for r in requests} == {"k-1"}
    assert requests[0].body == requests[1].body


async def test_429_with_retry_after_seconds(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver()
    receiver.script(Reply(429, {"Retry-After": "7"}, b"slow down"))
    result = await WebhookSender(client).send(
        message, _config(receiver), {"signing_secret": SECRET}
    )
    assert result.error_class is ErrorClass.RATE_LIMITED
    assert result.retry_after == 7.0
    assert not result.permanent


async def test_503_with_retry_after_http_date(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver()
    when = datetime.now(UTC) + timedelta(seconds=120)
    receiver.script(Reply(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    result = await WebhookSender(client).send(
        message, _config(receiver), {"signing_secret": SECRET}
    )
    assert result.error_class is ErrorClass.SERVER_ERROR
    assert result.retry_after is not None
    assert 100 <= result.retry_after <= 121


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, ErrorClass.INVALID_CONFIG),
        (403, ErrorClass.AUTH),
        (404, ErrorClass.NOT_FOUND),
        (410, ErrorClass.NOT_FOUND),
        (422, ErrorClass.INVALID_CONFIG),
    ],
)
async def test_permanent_4xx(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
    status: int,
    error_class: ErrorClass,
) -> None:
    receiver = start_receiver()
    receiver.script(Reply(status, body=b'{"error":"unknown field"}'))
    result = await WebhookSender(client).send(
        message, _config(receiver), {"signing_secret": SECRET}
    )
    assert not result.ok
    assert result.status_code == status
    assert result.error_class is error_class
    assert result.permanent
    assert result.error is not None
    assert "unknown field" in result.error


async def test_redirect_is_not_followed(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver()
    receiver.script(Reply(302, {"Location": receiver.url + "/elsewhere"}, b""))
    result = await WebhookSender(client).send(
        message, _config(receiver), {"signing_secret": SECRET}
    )
    assert result.error_class is ErrorClass.INVALID_CONFIG
    assert result.permanent
    assert len(receiver.wait_for(1)) == 1


async def test_nothing_listening_is_a_connection_error(
    client: httpx.AsyncClient, message: NotificationMessage
) -> None:
    config = {"url": f"http://127.0.0.1:{free_port()}/hook", "timeout_seconds": 5}
    result = await WebhookSender(client).send(message, config, {"signing_secret": SECRET})
    assert result.error_class is ErrorClass.CONNECTION
    assert not result.permanent


async def test_slow_receiver_is_a_timeout(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
) -> None:
    receiver = start_receiver()
    receiver.script(Reply(hang=True))
    result = await WebhookSender(client).send(
        message, _config(receiver, timeout_seconds=0.3), {"signing_secret": SECRET}
    )
    assert result.error_class is ErrorClass.TIMEOUT
    assert not result.permanent
    assert 0.25 <= result.latency < 5


async def test_untrusted_certificate_is_a_tls_error(
    start_receiver: Callable[..., Receiver],
    client: httpx.AsyncClient,
    message: NotificationMessage,
    pki: Pki,
) -> None:
    receiver = start_receiver(ssl_context=pki.server_context())
    result = await WebhookSender(client).send(
        message, _config(receiver), {"signing_secret": SECRET}
    )
    assert result.error_class is ErrorClass.TLS, result


async def test_trusted_private_ca_delivers_over_https(
    start_receiver: Callable[..., Receiver],
    message: NotificationMessage,
    pki: Pki,
) -> None:
    receiver = start_receiver(ssl_context=pki.server_context(), signing_secret=SECRET)
    async with httpx.AsyncClient(verify=pki.client_context()) as trusting:
        result = await WebhookSender(trusting).send(
            message, _config(receiver), {"signing_secret": SECRET}
        )
    assert result.ok, result
    assert receiver.url.startswith("https://")


async def test_sender_without_a_shared_client_owns_and_closes_its_own(
    start_receiver: Callable[..., Receiver], message: NotificationMessage
) -> None:
    receiver = start_receiver()
    async with WebhookSender() as sender:
        result = await sender.send(message, _config(receiver), {"signing_secret": SECRET})
    assert result.ok, result
