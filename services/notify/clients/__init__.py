"""Channel senders of the notify service, one per `ChannelKind`."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from services.notify.clients.base import ChannelConfigError, Sender
from services.notify.clients.chat import SlackSender, TeamsSender
from services.notify.clients.ntfy import NtfySender
from services.notify.clients.smtp import SmtpSender
from services.notify.clients.webhook import WebhookSender, sign, verify_signature
from services.notify.domain.model import ChannelKind

__all__ = [
    "ChannelConfigError",
    "NtfySender",
    "Sender",
    "SlackSender",
    "SmtpSender",
    "TeamsSender",
    "WebhookSender",
    "build_senders",
    "sign",
    "verify_signature",
]


def build_senders(client: httpx.AsyncClient) -> Mapping[ChannelKind, Sender]:
    """One sender per kind; the HTTP ones share `client`, whose owner closes it."""
    return {
        ChannelKind.WEBHOOK: WebhookSender(client),
        ChannelKind.NTFY: NtfySender(client),
        ChannelKind.SMTP: SmtpSender(),
        ChannelKind.SLACK: SlackSender(client),
        ChannelKind.TEAMS: TeamsSender(client),
    }
