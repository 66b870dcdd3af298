"""ntfy channel: POST the text to `<server>/<topic>` with ntfy's headers.

Config: `server` (default https://ntfy.sh), `topic`, `tags` (extra tags),
`timeout_seconds`, `templates` (overrides of title/text). Secrets: `token` (sent as
bearer) or `username` + `password` (basic auth), both optional.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from email.header import Header
from typing import Any

import httpx

from services.notify.clients.base import (
    ChannelConfigError,
    get_http_url,
    get_str,
    get_str_list,
    get_str_map,
    get_timeout,
    invalid_config,
    key_for,
    no_header_injection,
    require_str,
)
from services.notify.clients.httpbase import HttpClientOwner, post
from services.notify.domain.model import AttemptResult, ChannelKind, NotificationMessage
from services.notify.domain.templates import TemplateError, render

DEFAULT_SERVER = "https://ntfy.sh"
_TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
_SEVERITY_TAGS = {5: "rotating_light", 4: "warning"}
MAX_BODY_BYTES = 4096


def header_text(value: str) -> str:
    """A header value ntfy accepts: ASCII as is, anything else as an RFC 2047 word."""
    flat = " ".join(value.split())
    if flat.isascii():
        return flat
    return Header(flat, "utf-8").encode(maxlinelen=10_000)


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", "ignore") + "..."


class NtfySender(HttpClientOwner):
    """Publishes to an ntfy topic; priority follows severity (1 min .. 5 max)."""

    kind = ChannelKind.NTFY

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(client)

    def _url(self, config: Mapping[str, Any]) -> str:
        server = get_http_url({"server": config.get("server") or DEFAULT_SERVER}, "server")
        topic = require_str(config, "topic")
        if not _TOPIC.match(topic):
            raise ChannelConfigError("topic", "must be 1-64 of A-Z a-z 0-9 _ -")
        return server.rstrip("/") + "/" + topic

    def _auth(self, secrets: Mapping[str, str]) -> str | None:
        token = get_str(secrets, "token", required=False)
        if token:
            return "Bearer " + no_header_injection("token", token)
        username = get_str(secrets, "username", required=False)
        if username:
            password = get_str(secrets, "password", required=False) or ""
            pair = f"{username}:{password}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return None

    def validate(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Raise `ChannelConfigError` if the configuration cannot work."""
        self._url(config)
        self._auth(secrets)
        get_timeout(config)
        for tag in get_str_list(config, "tags", required=False):
            if "," in tag:
                raise ChannelConfigError("tags", "a tag cannot contain a comma")
        get_str_map(config, "templates")

    def destination(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
        """`<server>/<topic>`."""
        return self._url(config)

    async def send(
        self,
        message: NotificationMessage,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        idempotency_key: str | None = None,
    ) -> AttemptResult:
        """Publish the rendered message to the topic."""
        try:
            self.validate(config, secrets)
            url = self._url(config)
            auth = self._auth(secrets)
            rendered = render(self.kind, message, get_str_map(config, "templates"))
        except (ChannelConfigError, TemplateError) as exc:
            return invalid_config(exc)
        tags = [_SEVERITY_TAGS[s] for s in (message.severity,) if s in _SEVERITY_TAGS]
        tags += get_str_list(config, "tags", required=False)
        headers = {
            "Title": header_text(rendered.title),
            "Priority": str(message.severity),
            "Content-Type": "text/plain; charset=utf-8",
            "X-Triage-Event-Id": message.event_id,
            "Idempotency-Key": key_for(message, url, idempotency_key),
        }
        if tags:
            headers["Tags"] = header_text(",".join(tags))
        if message.url:
            headers["Click"] = header_text(message.url)
        if auth:
            headers["Authorization"] = auth
        body = _truncate_utf8(rendered.text or rendered.title, MAX_BODY_BYTES).encode()
        timeout = get_timeout(config)
        result, answer = await post(
            self.client(), url, content=body, headers=headers, timeout_seconds=timeout
        )
        if result.ok and answer is not None and result.provider_request_id is None:
            return _with_message_id(result, answer.body)
        return result


def _with_message_id(result: AttemptResult, body: bytes) -> AttemptResult:
    try:
        published = json.loads(body)
    except ValueError:
        return result
    if isinstance(published, dict) and isinstance(published.get("id"), str):
        return AttemptResult.success(
            status_code=result.status_code,
            provider_request_id=published["id"],
            latency=result.latency,
        )
    return result
