"""What a channel's sender takes: its options and secrets, from a channel spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.notify.domain.channel import ChannelSpec
from services.notify.domain.model import ChannelKind

#: The SMTP security a stored config names (proto enum names) -> the sender's option.
_SMTP_SECURITY = {
    "SMTP_SECURITY_UNSPECIFIED": "starttls",
    "SMTP_SECURITY_STARTTLS": "starttls",
    "SMTP_SECURITY_TLS": "tls",
    "SMTP_SECURITY_NONE": "none",
}


def sender_inputs(spec: ChannelSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """The (config, secrets) mappings the kind's sender takes."""
    c, s = spec.config, spec.secrets
    config: dict[str, Any]
    secrets: dict[str, str] = {}
    if spec.kind is ChannelKind.WEBHOOK:
        config = {"url": c.get("url", ""), "headers": dict(c.get("headers", {}))}
        secrets = {k: s[k] for k in ("signing_secret", "bearer_token") if s.get(k)}
    elif spec.kind is ChannelKind.NTFY:
        config = {"server": c.get("server_url", ""), "topic": c.get("topic", "")}
        if c.get("tags"):
            config["tags"] = list(c["tags"])
        if s.get("access_token"):
            secrets["token"] = s["access_token"]
    elif spec.kind is ChannelKind.SMTP:
        security = _SMTP_SECURITY[c.get("security", "SMTP_SECURITY_UNSPECIFIED")]
        config = {
            "host": c.get("host", ""),
            "security": security,
            "from_addr": c.get("from_address", ""),
            "to": list(c.get("to_addresses", [])),
        }
        if c.get("port"):
            config["port"] = int(c["port"])
        if c.get("ca_certificate_pem"):
            config["ca_pem"] = c["ca_certificate_pem"]
        if c.get("username"):
            secrets["username"] = c["username"]
        if s.get("password"):
            secrets["password"] = s["password"]
    else:
        config = {}
        if s.get("webhook_url"):
            secrets["webhook_url"] = s["webhook_url"]
    overrides = template_overrides(spec.template)
    if overrides:
        config["templates"] = overrides
    return config, secrets


def template_overrides(template: Mapping[str, Any] | None) -> dict[str, str]:
    """Template parts overridden by the channel (title and text)."""
    if not template:
        return {}
    parts = {
        "title": template.get("subject_template", ""),
        "text": template.get("body_template", ""),
    }
    return {k: v for k, v in parts.items() if v}
