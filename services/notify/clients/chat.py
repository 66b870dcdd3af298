"""Chat channels: Slack and Microsoft Teams incoming webhooks.

The webhook URL is itself the credential, so it lives in the secrets
(`webhook_url`); config holds `timeout_seconds` and `templates` (title/text
overrides; Slack text is mrkdwn, interpolated values are escaped).
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.notify.clients.base import (
    ChannelConfigError,
    get_http_url,
    get_str_map,
    get_timeout,
    invalid_config,
    key_for,
)
from services.notify.clients.httpbase import HttpClientOwner, post
from services.notify.domain.model import AttemptResult, ChannelKind, NotificationMessage
from services.notify.domain.templates import Rendered, TemplateError, escape_mrkdwn, render

ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_VERSION = "1.4"
_SLACK_EMOJI = {5: ":rotating_light:", 4: ":warning:", 3: ":large_orange_diamond:"}
_TEAMS_COLOR = {5: "Attention", 4: "Attention", 3: "Warning"}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rfc3339(message: NotificationMessage) -> str:
    return message.occurred_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def slack_payload(message: NotificationMessage, rendered: Rendered) -> dict[str, Any]:
    """Incoming-webhook JSON: fallback `text` plus Block Kit blocks within Slack's limits."""
    emoji = _SLACK_EMOJI.get(message.severity, ":information_source:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(rendered.title, 150)}}
    ]
    if rendered.text:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(rendered.text, 3000)}}
        )
    if message.fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _clip(f"*{escape_mrkdwn(name)}*\n{escape_mrkdwn(value)}", 2000),
                    }
                    for name, value in list(message.fields.items())[:10]
                ],
            }
        )
    stamp = int(message.occurred_at.timestamp())
    context = (
        f"{emoji} {message.severity_label} · {escape_mrkdwn(message.event_type)} · "
        f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{_rfc3339(message)}>"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    if message.url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Triage"},
                        "url": _clip(message.url, 3000),
                    }
                ],
            }
        )
    fallback = f"[{message.severity_label.upper()}] {rendered.title}"
    return {"text": escape_mrkdwn(fallback), "blocks": blocks}


def teams_payload(message: NotificationMessage, rendered: Rendered) -> dict[str, Any]:
    """Incoming-webhook JSON carrying one Adaptive Card (version 1.4)."""
    stamp = _rfc3339(message)
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": rendered.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _TEAMS_COLOR.get(message.severity, "Default"),
        },
        {
            "type": "TextBlock",
            "text": f"{message.severity_label.capitalize()} · {message.event_type} · "
            f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}",
            "isSubtle": True,
            "spacing": "None",
            "wrap": True,
        },
    ]
    if rendered.text:
        body.append({"type": "TextBlock", "text": rendered.text, "wrap": True})
    if message.fields:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": k, "value": v} for k, v in message.fields.items()],
            }
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if message.url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in Triage", "url": message.url}
        ]
    return {
        "type": "message",
        "attachments": [
            {"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}
        ],
    }


class _ChatSender(HttpClientOwner, abc.ABC):
    kind: ChannelKind

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(client)

    @abc.abstractmethod
    def _payload(self, message: NotificationMessage, rendered: Rendered) -> dict[str, Any]:
        """The chat service's JSON body for ``message``."""

    def validate(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Raise `ChannelConfigError` if the configuration cannot work."""
        get_http_url(secrets, "webhook_url")
        get_timeout(config)
        get_str_map(config, "templates")

    def destination(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
        """The webhook's host and a digest of its secret URL."""
        url = get_http_url(secrets, "webhook_url")
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        return f"{self.kind}:{urlsplit(url).hostname}#{digest}"

    async def send(
        self,
        message: NotificationMessage,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        idempotency_key: str | None = None,
    ) -> AttemptResult:
        """Render, wrap in the chat's JSON shape and POST to the incoming webhook."""
        try:
            self.validate(config, secrets)
            url = get_http_url(secrets, "webhook_url")
            rendered = render(self.kind, message, get_str_map(config, "templates"))
        except (ChannelConfigError, TemplateError) as exc:
            return invalid_config(exc)
        content = json.dumps(self._payload(message, rendered), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Triage-Event-Id": message.event_id,
            "Idempotency-Key": key_for(message, self.destination(config, secrets), idempotency_key),
        }
        result, _ = await post(
            self.client(),
            url,
            content=content,
            headers=headers,
            timeout_seconds=get_timeout(config),
        )
        return result


class SlackSender(_ChatSender):
    """Slack incoming webhook with Block Kit blocks."""

    kind = ChannelKind.SLACK

    def _payload(self, message: NotificationMessage, rendered: Rendered) -> dict[str, Any]:
        return slack_payload(message, rendered)


class TeamsSender(_ChatSender):
    """Microsoft Teams incoming webhook (Workflows or connector) with an Adaptive Card."""

    kind = ChannelKind.TEAMS

    def _payload(self, message: NotificationMessage, rendered: Rendered) -> dict[str, Any]:
        return teams_payload(message, rendered)
