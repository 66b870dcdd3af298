"""Generic webhook channel: a versioned JSON body signed with HMAC-SHA256.

See WEBHOOK.md next to this module for the receiver's side of the contract.

Config: `url` (http/https), `headers` (extra headers; reserved names refused),
`timeout_seconds`. Secrets: `signing_secret` (required), `previous_signing_secret`
(optional, signs too while receivers move to a rotated secret), `bearer_token`
(optional, sent as `Authorization: Bearer`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import httpx

from services.notify.clients.base import (
    ChannelConfigError,
    get_http_url,
    get_str,
    get_str_map,
    get_timeout,
    header_name,
    invalid_config,
    key_for,
    no_header_injection,
)
from services.notify.clients.httpbase import HttpClientOwner, post
from services.notify.domain.model import AttemptResult, ChannelKind, NotificationMessage

BODY_VERSION = "1"
SIGNATURE_HEADER = "X-Triage-Signature"
EVENT_ID_HEADER = "X-Triage-Event-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300.0
_RESERVED = frozenset(
    {
        "authorization",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
        "idempotency-key",
    }
)


def webhook_body(message: NotificationMessage) -> dict[str, Any]:
    """The documented version-1 JSON body of a message."""
    occurred = message.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "version": BODY_VERSION,
        "event_id": message.event_id,
        "event_type": message.event_type,
        "tenant_id": message.tenant_id,
        "occurred_at": occurred,
        "title": message.title,
        "body": message.body,
        "severity": message.severity,
        "priority": message.priority,
        "url": message.url,
        "fields": dict(message.fields),
    }


def encode_body(message: NotificationMessage) -> bytes:
    """The exact bytes sent (and signed) for a message."""
    return json.dumps(webhook_body(message), ensure_ascii=False, separators=(",", ":")).encode()


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secrets: str | Sequence[str], body: bytes, timestamp: int) -> str:
    """The signature header value `t=<unix>,v1=<hex>[,v1=<hex>...]`, one v1 per secret."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys or not all(keys):
        raise ValueError("at least one non-empty secret is required")
    return ",".join([f"t={timestamp}", *(f"v1={_mac(k, timestamp, body)}" for k in keys)])


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Receiver-side check of `X-Triage-Signature` against the raw request body.

    True when some `v1` matches HMAC-SHA256(secret, "<t>.<body>") and `t` lies within
    `tolerance` seconds of `now` (either side), which rejects replays of old requests.
    """
    if not header or not secret:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


class WebhookSender(HttpClientOwner):
    """POSTs the signed version-1 body to the configured URL."""

    kind = ChannelKind.WEBHOOK

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(client)

    def _parse(
        self, config: Mapping[str, Any], secrets: Mapping[str, str]
    ) -> tuple[str, dict[str, str], float, list[str], str | None]:
        url = get_http_url(config, "url")
        headers = get_str_map(config, "headers")
        for name, value in headers.items():
            lowered = name.lower()
            if lowered in _RESERVED or lowered.startswith("x-triage-"):
                raise ChannelConfigError("headers", f"{name!r} is set by Triage")
            header_name("headers", name)
            no_header_injection(f"headers.{name}", value)
        timeout = get_timeout(config)
        signing = get_str(secrets, "signing_secret")
        assert signing is not None
        previous = get_str(secrets, "previous_signing_secret", required=False)
        keys = [signing, previous] if previous else [signing]
        bearer = get_str(secrets, "bearer_token", required=False)
        if bearer is not None:
            no_header_injection("bearer_token", bearer)
        return url, headers, timeout, keys, bearer

    def validate(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Raise `ChannelConfigError` if the configuration cannot work."""
        self._parse(config, secrets)

    def destination(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
        """The target URL."""
        return get_http_url(config, "url")

    async def send(
        self,
        message: NotificationMessage,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        idempotency_key: str | None = None,
    ) -> AttemptResult:
        """Sign and POST the message body; classify the answer."""
        try:
            url, extra, timeout, keys, bearer = self._parse(config, secrets)
        except ChannelConfigError as exc:
            return invalid_config(exc)
        body = encode_body(message)
        headers = {
            **extra,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(keys, body, int(time.time())),
            EVENT_ID_HEADER: message.event_id,
            IDEMPOTENCY_HEADER: key_for(message, url, idempotency_key),
        }
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        result, _ = await post(
            self.client(), url, content=body, headers=headers, timeout_seconds=timeout
        )
        return result
