"""SMTP channel: an RFC 5322 message (plain text + HTML) sent with stdlib smtplib.

Config: `host`, `port` (default 587 / 465 / 25 by security), `security`
(`starttls` default, `tls` implicit TLS, `none`), `from_addr`, `to` (list),
`reply_to`, `helo_name`, `message_id_domain` (default: the From domain),
`verify_tls` (default true), `ca_pem` (trust only this CA, e.g. a private one),
`timeout_seconds`, `templates` (title/text/html overrides). Secrets: `username`,
`password` (both optional; AUTH happens only with a username).

The Message-ID is derived from the delivery's idempotency key, so a retried send
carries the same Message-ID and clients that deduplicate by it show one message.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any

from services.notify.clients.base import (
    ChannelConfigError,
    get_bool,
    get_str,
    get_str_list,
    get_str_map,
    get_timeout,
    invalid_config,
    key_for,
    require_str,
)
from services.notify.domain.model import (
    AttemptResult,
    ChannelKind,
    ErrorClass,
    NotificationMessage,
)
from services.notify.domain.templates import Rendered, TemplateError, render

SECURITY_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_QUEUED_AS = re.compile(r"queued as ([\w.\-]+)", re.IGNORECASE)
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """A parsed, validated SMTP channel configuration."""

    host: str
    port: int
    security: str
    from_addr: str
    envelope_from: str
    to: tuple[str, ...]
    reply_to: str | None
    helo_name: str | None
    message_id_domain: str
    verify_tls: bool
    ca_pem: str | None
    timeout: float
    templates: Mapping[str, str]
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, config: Mapping[str, Any], secrets: Mapping[str, str]) -> SmtpSettings:
        """Validate `config` and `secrets`; raise `ChannelConfigError` on the first problem."""
        host = require_str(config, "host")
        security = get_str(config, "security", default="starttls")
        if security not in SECURITY_MODES:
            raise ChannelConfigError("security", f"must be one of {', '.join(SECURITY_MODES)}")
        port = config.get("port", DEFAULT_PORTS[security])
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ChannelConfigError("port", "must be an integer from 1 to 65535")
        from_addr = require_str(config, "from_addr")
        envelope_from = _mailbox("from_addr", from_addr)
        to = tuple(get_str_list(config, "to", required=True))
        for item in to:
            _mailbox("to", item)
        reply_to = get_str(config, "reply_to", required=False)
        if reply_to is not None:
            _mailbox("reply_to", reply_to)
        domain = (
            get_str(config, "message_id_domain", required=False) or envelope_from.rsplit("@", 1)[1]
        )
        if not _DOMAIN.match(domain):
            raise ChannelConfigError("message_id_domain", "must be a domain name")
        ca_pem = get_str(config, "ca_pem", required=False)
        settings = cls(
            host=host,
            port=port,
            security=security,
            from_addr=from_addr,
            envelope_from=envelope_from,
            to=to,
            reply_to=reply_to,
            helo_name=get_str(config, "helo_name", required=False),
            message_id_domain=domain,
            verify_tls=get_bool(config, "verify_tls", True),
            ca_pem=ca_pem,
            timeout=get_timeout(config),
            templates=get_str_map(config, "templates"),
            username=get_str(secrets, "username", required=False),
            password=get_str(secrets, "password", required=False),
        )
        if security != "none":
            settings.ssl_context()
        return settings

    def ssl_context(self) -> ssl.SSLContext:
        """The client TLS context: system CAs, or only `ca_pem`; verification optional."""
        try:
            context = ssl.create_default_context(cadata=self.ca_pem or None)
        except (ssl.SSLError, ValueError) as exc:
            raise ChannelConfigError("ca_pem", f"not a usable PEM certificate: {exc}") from exc
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _mailbox(field: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ChannelConfigError(field, "must not contain line breaks")
    parsed = getaddresses([value])
    if len(parsed) != 1:
        raise ChannelConfigError(field, "must be exactly one address")
    address = parseaddr(value)[1]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or " " in address:
        raise ChannelConfigError(field, f"{value!r} is not an email address")
    return address


def build_email(
    message: NotificationMessage,
    rendered: Rendered,
    settings: SmtpSettings,
    *,
    key: str,
    now: datetime,
) -> EmailMessage:
    """The RFC 5322 message: headers, text/plain and (if rendered) text/html alternatives."""
    email = EmailMessage(policy=policy.SMTP)
    email["Subject"] = rendered.title or message.title
    email["From"] = settings.from_addr
    email["To"] = ", ".join(settings.to)
    if settings.reply_to:
        email["Reply-To"] = settings.reply_to
    email["Date"] = format_datetime(now.astimezone(UTC))
    email["Message-ID"] = message_id(key, settings.message_id_domain)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Auto-Response-Suppress"] = "All"
    email["X-Triage-Event-Id"] = " ".join(message.event_id.split())
    email["X-Triage-Event-Type"] = " ".join(message.event_type.split())
    email.set_content(rendered.text or rendered.title, cte="quoted-printable")
    if rendered.html:
        email.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return email


def message_id(key: str, domain: str) -> str:
    """`<key@domain>`: stable for one delivery, unique across deliveries."""
    return f"<{key}@{domain}>"


class _Failure(Exception):
    def __init__(
        self, error_class: ErrorClass, message: str, *, permanent: bool, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.permanent = permanent
        self.code = code


def _text(reply: bytes | str) -> str:
    raw = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(raw.split())[:300]


def _by_code(code: int, what: str, reply: bytes | str) -> _Failure:
    permanent = code >= 500
    return _Failure(
        ErrorClass.SERVER_ERROR, f"{what}: {code} {_text(reply)}", permanent=permanent, code=code
    )


def _transmit(settings: SmtpSettings, data: bytes) -> tuple[int, str, dict[str, tuple[int, str]]]:
    context = settings.ssl_context() if settings.security != "none" else None
    stage = "connect"
    try:
        client: smtplib.SMTP
        if settings.security == "tls":
            client = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                local_hostname=settings.helo_name,
                timeout=settings.timeout,
                context=context,
            )
        else:
            client = smtplib.SMTP(
                settings.host,
                settings.port,
                local_hostname=settings.helo_name,
                timeout=settings.timeout,
            )
        with client:
            stage = "ehlo"
            client.ehlo()
            if settings.security == "starttls":
                stage = "starttls"
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                stage = "auth"
                client.login(settings.username, settings.password or "")
            stage = "send"
            options = [f"SIZE={len(data)}"] if client.has_extn("size") else []
            code, reply = client.mail(settings.envelope_from, options)
            if code != 250:
                client.rset()
                raise _Failure(
                    ErrorClass.INVALID_CONFIG if code >= 500 else ErrorClass.SERVER_ERROR,
                    f"sender refused: {code} {_text(reply)}",
                    permanent=code >= 500,
                    code=code,
                )
            refused: dict[str, tuple[int, str]] = {}
            for recipient in settings.to:
                code, reply = client.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, _text(reply))
            if len(refused) == len(settings.to):
                client.rset()
                transient = [c for c, _ in refused.values() if c < 500]
                detail = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
                raise _Failure(
                    ErrorClass.SERVER_ERROR if transient else ErrorClass.NOT_FOUND,
                    f"all recipients refused: {detail}",
                    permanent=not transient,
                    code=transient[0] if transient else next(iter(refused.values()))[0],
                )
            code, reply = client.data(data)
            if code != 250:
                client.rset()
                raise _by_code(code, "message refused", reply)
            return code, _text(reply), refused
    except _Failure:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise _Failure(
            ErrorClass.AUTH,
            f"authentication failed: {exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=exc.smtp_code >= 500,
            code=exc.smtp_code,
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        error_class = ErrorClass.TLS if stage == "starttls" else ErrorClass.AUTH
        raise _Failure(error_class, f"{stage}: {exc}", permanent=stage == "auth") from exc
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise _Failure(
            ErrorClass.TLS, f"{stage}: {type(exc).__name__}: {exc}", permanent=False
        ) from exc
    except smtplib.SMTPDataError as exc:
        raise _by_code(exc.smtp_code, "message refused", exc.smtp_error) from exc
    except smtplib.SMTPConnectError as exc:
        raise _Failure(
            ErrorClass.CONNECTION,
            f"connect: {exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=False,
            code=exc.smtp_code,
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise _by_code(exc.smtp_code, stage, exc.smtp_error) from exc
    except TimeoutError as exc:
        raise _Failure(ErrorClass.TIMEOUT, f"{stage}: timed out", permanent=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise _Failure(
            ErrorClass.CONNECTION, f"{stage}: {type(exc).__name__}: {exc}", permanent=False
        ) from exc


class SmtpSender:
    """Sends through an SMTP server; smtplib runs in a worker thread."""

    kind = ChannelKind.SMTP

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    def validate(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Raise `ChannelConfigError` if the configuration cannot work."""
        SmtpSettings.parse(config, secrets)

    def destination(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
        """`smtp:` and the sorted, lower-cased recipients."""
        settings = SmtpSettings.parse(config, secrets)
        recipients = sorted({_mailbox("to", r).lower() for r in settings.to})
        return "smtp:" + ",".join(recipients)

    async def send(
        self,
        message: NotificationMessage,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        idempotency_key: str | None = None,
    ) -> AttemptResult:
        """Render, build and transmit the email; classify SMTP and network failures."""
        try:
            settings = SmtpSettings.parse(config, secrets)
            rendered = render(self.kind, message, settings.templates)
            key = key_for(message, self.destination(config, secrets), idempotency_key)
            data = build_email(message, rendered, settings, key=key, now=self._clock()).as_bytes()
        except (ChannelConfigError, TemplateError) as exc:
            return invalid_config(exc)
        except (ValueError, UnicodeError) as exc:
            return invalid_config(ChannelConfigError("message", str(exc)))
        started = time.perf_counter()
        try:
            code, reply, refused = await asyncio.to_thread(_transmit, settings, data)
        except _Failure as exc:
            return AttemptResult.failure(
                exc.error_class,
                str(exc),
                permanent=exc.permanent,
                status_code=exc.code,
                latency=time.perf_counter() - started,
            )
        match = _QUEUED_AS.search(reply)
        note = None
        if refused:
            note = "refused: " + "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
        return AttemptResult.success(
            status_code=code,
            provider_request_id=match.group(1) if match else (reply or None),
            latency=time.perf_counter() - started,
            error=note,
        )
