from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.notify.clients.smtp import SmtpSender
from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.model import ErrorClass, NotificationMessage
from tests.integration.notify_channels.servers import Pki, free_port, poll

SENT_AT = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool

    def parsed(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Inbox:
    messages: list[Delivered] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody>: Recipient address rejected: User unknown"
        if address.startswith("later@"):
            return "450 4.2.0 <later>: Recipient address rejected: greylisted"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            Delivered(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.content,
                tls=session.ssl is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 Ok: queued as 4Q7XyZ12"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    valid = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"alerts"
        and auth_data.password == b"correct horse"
    )
    return AuthResult(success=valid, handled=False)


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., SmtpServer]]:
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> SmtpServer:
        inbox = Inbox()
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port=port, inbox=inbox)

    yield start
    for controller in controllers:
        controller.stop()


def _config(server: SmtpServer, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "from_addr": "Triage <alerts@msp.example>",
        "to": ["oncall@acme.example", "Ops Team <ops@acme.example>"],
        "timeout_seconds": 5,
        **extra,
    }


async def test_plain_smtp_delivers_a_well_formed_message(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage
) -> None:
    server = start_smtp()
    key = idempotency_key(message.event_id, message.tenant_id, "chan-mail", "smtp:oncall")
    sender = SmtpSender(clock=lambda: SENT_AT)

    result = await sender.send(message, _config(server), {}, idempotency_key=key)

    assert result.ok, result
    assert result.status_code == 250
    assert result.provider_request_id == "4Q7XyZ12"
    poll(lambda: len(server.inbox.messages) == 1, what="one message")
    delivered = server.inbox.messages[0]
    assert delivered.mail_from == "alerts@msp.example"
    assert delivered.rcpt_tos == ["oncall@acme.example", "ops@acme.example"]
    assert not delivered.tls
    email = delivered.parsed()
    assert email["Message-ID"] == f"<{key}@msp.example>"
    assert email["Date"] == "Sun, 01 Mar 2026 12:00:30 +0000"
    assert email["From"] == "Triage <alerts@msp.example>"
    assert email["To"] == "oncall@acme.example, Ops Team <ops@acme.example>"
    assert email["Subject"] == f"[HIGH] {message.title}"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["X-Triage-Event-Id"] == message.event_id
    assert email.get_content_type() == "multipart/alternative"
    plain = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert plain.get_content().startswith(message.body)
    assert "Client: Acme" in plain.get_content()
    assert '<a href="https://triage.example/tickets/T-1042">' in html.get_content()


async def test_retry_carries_the_same_message_id(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage
) -> None:
    server = start_smtp()
    sender = SmtpSender()
    assert (await sender.send(message, _config(server), {})).ok
    assert (await sender.send(message, _config(server), {})).ok
    poll(lambda: len(server.inbox.messages) == 2, what="two messages")
    ids = {m.parsed()["Message-ID"] for m in server.inbox.messages}
    assert len(ids) == 1


async def test_starttls_with_private_ca_and_auth(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage, pki: Pki
) -> None:
    server = start_smtp(
        tls_context=pki.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    config = _config(server, security="starttls", ca_pem=pki.ca_pem)
    secrets = {"username": "alerts", "password": "correct horse"}

    result = await SmtpSender().send(message, config, secrets)

    assert result.ok, result
    poll(lambda: len(server.inbox.messages) == 1, what="one message")
    delivered = server.inbox.messages[0]
    assert delivered.tls
    assert delivered.authenticated


async def test_starttls_wrong_password_is_a_permanent_auth_failure(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage, pki: Pki
) -> None:
    server = start_smtp(
        tls_context=pki.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    config = _config(server, security="starttls", ca_pem=pki.ca_pem)
    result = await SmtpSender().send(message, config, {"username": "alerts", "password": "x"})
    assert result.error_class is ErrorClass.AUTH
    assert result.status_code == 535
    assert result.permanent
    assert server.inbox.messages == []


async def test_starttls_with_an_untrusted_certificate_is_a_tls_error(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage, pki: Pki
) -> None:
    server = start_smtp(tls_context=pki.server_context(), require_starttls=True)
    result = await SmtpSender().send(message, _config(server, security="starttls"), {})
    assert result.error_class is ErrorClass.TLS, result
    assert server.inbox.messages == []


async def test_verification_can_be_switched_off_for_test_servers(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage, pki: Pki
) -> None:
    server = start_smtp(tls_context=pki.server_context(), require_starttls=True)
    config = _config(server, security="starttls", verify_tls=False)
    result = await SmtpSender().send(message, config, {})
    assert result.ok, result


async def test_starttls_required_but_not_offered_is_a_tls_error(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage
) -> None:
    server = start_smtp()
    result = await SmtpSender().send(message, _config(server, security="starttls"), {})
    assert result.error_class is ErrorClass.TLS
    assert server.inbox.messages == []


async def test_implicit_tls(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage, pki: Pki
) -> None:
    server = start_smtp(ssl_context=pki.server_context())
    config = _config(server, security="tls", ca_pem=pki.ca_pem)
    result = await SmtpSender().send(message, config, {})
    assert result.ok, result
    poll(lambda: len(server.inbox.messages) == 1, what="one message")


async def test_unknown_recipients_are_permanent(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage
) -> None:
    server = start_smtp()
    result = await SmtpSender().send(message, _config(server, to=["nobody@acme.example"]), {})
    assert result.error_class is ErrorClass.NOT_FOUND
    assert result.status_code == 550
    assert result.permanent


async def test_greylisting_is_transient(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage
) -> None:
    server = start_smtp()
    result = await SmtpSender().send(message, _config(server, to=["later@acme.example"]), {})
    assert result.error_class is ErrorClass.SERVER_ERROR
    assert result.status_code == 450
    assert not result.permanent


async def test_partly_refused_recipients_still_deliver(
    start_smtp: Callable[..., SmtpServer], message: NotificationMessage
) -> None:
    server = start_smtp()
    config = _config(server, to=["oncall@acme.example", "nobody@acme.example"])
    result = await SmtpSender().send(message, config, {})
    assert result.ok
    assert result.error is not None
    assert "nobody@acme.example: 550" in result.error
    poll(lambda: len(server.inbox.messages) == 1, what="one message")
    assert server.inbox.messages[0].rcpt_tos == ["oncall@acme.example"]


async def test_nothing_listening_is_a_connection_error(message: NotificationMessage) -> None:
    config = {
        "host": "127.0.0.1",
        "port": free_port(),
        "security": "none",
        "from_addr": "alerts@msp.example",
        "to": ["oncall@acme.example"],
    }
    result = await SmtpSender().send(message, config, {})
    assert result.error_class is ErrorClass.CONNECTION
    assert not result.permanent
