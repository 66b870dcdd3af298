from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email import message_from_bytes, policy

import httpx
import pytest

from services.notify.clients import Sender, build_senders
from services.notify.clients.base import ChannelConfigError
from services.notify.clients.chat import (
    ADAPTIVE_CARD_CONTENT_TYPE,
    SlackSender,
    TeamsSender,
    slack_payload,
    teams_payload,
)
from services.notify.clients.ntfy import NtfySender, header_text
from services.notify.clients.smtp import SmtpSender, SmtpSettings, build_email
from services.notify.clients.webhook import WebhookSender, encode_body, webhook_body
from services.notify.domain.model import ChannelKind, ErrorClass, NotificationMessage
from services.notify.domain.templates import render


def test_webhook_body_is_the_documented_version_1(
    make_message: Callable[..., NotificationMessage],
) -> None:
    body = webhook_body(make_message())
    assert body == {
        "version": "1",
        "event_id": "evt-1",
        "event_type": "ticket.opened",
        "tenant_id": "tenant-a",
        "occurred_at": "2026-03-01T12:00:00Z",
        "title": "Disk C: almost full on ACME-DC01",
        "body": "Free space 2% (threshold 5%)",
        "severity": 4,
        "priority": 2,
        "url": "https://triage.example/tickets/T-1042",
        "fields": {"Ticket": "T-1042", "Client": "Acme", "Device": "ACME-DC01"},
    }
    assert json.loads(encode_body(make_message(title="Größe")))["title"] == "Größe"


def test_slack_payload_respects_block_kit_limits(
    make_message: Callable[..., NotificationMessage],
) -> None:
    message = make_message(title="x" * 400, fields={f"k{i}": "<v>" for i in range(15)}, severity=5)
    payload = slack_payload(message, render(ChannelKind.SLACK, message))
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header"
    assert len(blocks[0]["text"]["text"]) == 150
    fields = next(b for b in blocks if "fields" in b)["fields"]
    assert len(fields) == 10
    assert fields[0]["text"] == "*k0*\n&lt;v&gt;"
    assert blocks[-1]["elements"][0]["url"] == message.url
    assert payload["text"].startswith("[CRITICAL] ")


def test_teams_payload_is_an_adaptive_card(
    make_message: Callable[..., NotificationMessage],
) -> None:
    message = make_message()
    payload = teams_payload(message, render(ChannelKind.TEAMS, message))
    attachment = payload["attachments"][0]
    assert payload["type"] == "message"
    assert attachment["contentType"] == ADAPTIVE_CARD_CONTENT_TYPE
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert {"title": "Client", "value": "Acme"} in facts
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "Open in Triage",
        "url": message.url,
    }
    assert "{{DATE(2026-03-01T12:00:00Z, SHORT)}}" in card["body"][1]["text"]


def test_ntfy_header_text_encodes_non_ascii() -> None:
    assert header_text("Disk  full\n") == "Disk full"
    encoded = header_text("Festplatte fast voll – Größe")
    assert encoded.isascii()
    assert encoded.startswith("=?utf-8?")


def test_email_structure(make_message: Callable[..., NotificationMessage]) -> None:
    settings = SmtpSettings.parse(
        {"host": "mail.example", "from_addr": "Triage <alerts@msp.example>", "to": ["a@b.example"]},
        {},
    )
    message = make_message(title="Größe ändern")
    email = build_email(
        message,
        render(ChannelKind.SMTP, message),
        settings,
        key="k" * 64,
        now=datetime(2026, 3, 1, 12, 5, tzinfo=UTC),
    )
    raw = email.as_bytes()
    assert raw.isascii()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == "<" + "k" * 64 + "@msp.example>"
    assert parsed["Subject"] == "[HIGH] Größe ändern"
    assert parsed["Date"] == "Sun, 01 Mar 2026 12:05:00 +0000"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"from_addr": "a@b.example", "to": ["c@d.example"]}, "host"),
        ({"host": "h", "from_addr": "nope", "to": ["c@d.example"]}, "from_addr"),
        ({"host": "h", "from_addr": "a@b.example", "to": []}, "to"),
        ({"host": "h", "from_addr": "a@b.example", "to": "c@d.example"}, "to"),
        ({"host": "h", "from_addr": "a@b.example", "to": ["x\n@y"]}, "to"),
        (
            {"host": "h", "from_addr": "a@b.example", "to": ["c@d.example"], "security": "ssl"},
            "security",
        ),
        ({"host": "h", "from_addr": "a@b.example", "to": ["c@d.example"], "port": 0}, "port"),
        ({"host": "h", "from_addr": "a@b.example", "to": ["c@d.example"], "ca_pem": "x"}, "ca_pem"),
    ],
)
def test_smtp_config_validation(config: dict[str, object], field: str) -> None:
    with pytest.raises(ChannelConfigError) as caught:
        SmtpSender().validate(config, {})
    assert caught.value.field == field


def test_webhook_config_validation() -> None:
    sender = WebhookSender()
    good = {"url": "https://hooks.example/x"}
    sender.validate(good, {"signing_secret": "s"})
    bad: list[tuple[Mapping[str, object], dict[str, str], str]] = [
        ({"url": "ftp://x"}, {"signing_secret": "s"}, "url"),
        (good, {}, "signing_secret"),
        ({**good, "headers": {"X-Triage-Signature": "x"}}, {"signing_secret": "s"}, "headers"),
        ({**good, "headers": {"Authorization": "x"}}, {"signing_secret": "s"}, "headers"),
        ({**good, "headers": {"X-A": "1\r\nX-B: 2"}}, {"signing_secret": "s"}, "headers.X-A"),
        ({**good, "headers": {"Bad Name": "1"}}, {"signing_secret": "s"}, "headers"),
        ({**good, "timeout_seconds": 600}, {"signing_secret": "s"}, "timeout_seconds"),
    ]
    for config, secrets, field in bad:
        with pytest.raises(ChannelConfigError) as caught:
            sender.validate(config, secrets)
        assert caught.value.field == field


async def test_invalid_config_is_a_permanent_result_not_an_exception(
    make_message: Callable[..., NotificationMessage],
) -> None:
    message = make_message()
    results = [
        await WebhookSender().send(message, {"url": "nope"}, {"signing_secret": "s"}),
        await NtfySender().send(message, {"topic": "bad topic!"}, {}),
        await SlackSender().send(message, {}, {}),
        await TeamsSender().send(
            message, {"templates": {"text": "{% if %}"}}, {"webhook_url": "https://x.example/h"}
        ),
        await SmtpSender().send(message, {"host": "h"}, {}),
    ]
    for result in results:
        assert not result.ok
        assert result.error_class is ErrorClass.INVALID_CONFIG
        assert result.permanent


def test_chat_destination_does_not_reveal_the_secret_url() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    destination = SlackSender().destination({}, {"webhook_url": url})
    assert destination.startswith("slack:hooks.slack.com#")
    assert "SECRET" not in destination


async def test_every_kind_has_a_sender_satisfying_the_protocol() -> None:
    async with httpx.AsyncClient() as client:
        senders = build_senders(client)
        assert set(senders) == set(ChannelKind)
        for kind, sender in senders.items():
            assert isinstance(sender, Sender)
            assert sender.kind is kind
