"""The sender protocol and the configuration helpers every channel shares."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.model import AttemptResult, ChannelKind, ErrorClass, NotificationMessage

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0


class ChannelConfigError(ValueError):
    """A channel's configuration or secrets are unusable; `field` names the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@runtime_checkable
class Sender(Protocol):
    """Sends one message over one kind of channel.

    `send` never raises for network, protocol or configuration problems: they come
    back as a failed `AttemptResult` with an error class. `idempotency_key` is the
    delivery's key; when absent one is derived without a channel id.
    """

    kind: ChannelKind

    async def send(
        self,
        message: NotificationMessage,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        idempotency_key: str | None = None,
    ) -> AttemptResult:
        """Deliver `message` once; report the outcome."""
        ...

    def validate(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Raise `ChannelConfigError` if the configuration cannot work."""
        ...

    def destination(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
        """Canonical, display-safe destination used in the idempotency key."""
        ...


def invalid_config(exc: Exception) -> AttemptResult:
    """The permanent failure for a configuration that cannot be used."""
    return AttemptResult.failure(ErrorClass.INVALID_CONFIG, str(exc), permanent=True)


def key_for(message: NotificationMessage, destination: str, explicit: str | None) -> str:
    """The delivery's idempotency key, or one derived without a channel id."""
    if explicit:
        return explicit
    return idempotency_key(message.event_id, message.tenant_id, "", destination)


def get_str(
    config: Mapping[str, Any], name: str, *, default: str | None = None, required: bool = True
) -> str | None:
    """A string option; empty strings count as missing."""
    value = config.get(name, default)
    if value is None or value == "":
        if required and default is None:
            raise ChannelConfigError(name, "is required")
        return default
    if not isinstance(value, str):
        raise ChannelConfigError(name, "must be a string")
    return value


def require_str(config: Mapping[str, Any], name: str) -> str:
    """A required, non-empty string option."""
    value = get_str(config, name)
    assert value is not None
    return value


def get_bool(config: Mapping[str, Any], name: str, default: bool) -> bool:
    """A boolean option."""
    value = config.get(name, default)
    if not isinstance(value, bool):
        raise ChannelConfigError(name, "must be true or false")
    return value


def get_timeout(config: Mapping[str, Any]) -> float:
    """The `timeout_seconds` option, bounded to (0, 60]."""
    value = config.get("timeout_seconds", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChannelConfigError("timeout_seconds", "must be a number")
    if not 0 < value <= MAX_TIMEOUT:
        raise ChannelConfigError("timeout_seconds", f"must be in (0, {MAX_TIMEOUT:g}]")
    return float(value)


def get_str_list(config: Mapping[str, Any], name: str, *, required: bool) -> list[str]:
    """A list of non-empty strings."""
    value = config.get(name)
    if value is None:
        if required:
            raise ChannelConfigError(name, "is required")
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ChannelConfigError(name, "must be a list of strings")
    items = list(value)
    if not all(isinstance(item, str) and item for item in items):
        raise ChannelConfigError(name, "must be a list of non-empty strings")
    if required and not items:
        raise ChannelConfigError(name, "must not be empty")
    return items


def get_str_map(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """A mapping of strings to strings (absent means empty)."""
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ChannelConfigError(name, "must map strings to strings")
    return dict(value)


def get_http_url(config: Mapping[str, Any], name: str) -> str:
    """An absolute http(s) URL with a host."""
    url = require_str(config, name)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # an unclosed IPv6 bracket, a bad port
        raise ChannelConfigError(name, "must be an absolute http(s) URL") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ChannelConfigError(name, "must be an absolute http(s) URL")
    return url


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def no_header_injection(field: str, value: str) -> str:
    """Refuse anything but printable ASCII in values that end up in protocol headers."""
    if not all(" " <= ch <= "~" or ch == "\t" for ch in value):
        raise ChannelConfigError(field, "must be printable ASCII without line breaks")
    return value


def header_name(field: str, name: str) -> str:
    """Refuse header names that are not HTTP tokens."""
    if not _TOKEN.match(name):
        raise ChannelConfigError(field, f"{name!r} is not a valid header name")
    return name
