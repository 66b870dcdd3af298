"""Default templates per channel kind and sandboxed tenant overrides.

A channel renders three parts: `title` (subject line, card title), `text` (plain
body; mrkdwn for Slack) and `html` (SMTP only). Tenant overrides replace single parts
and run in jinja2's `ImmutableSandboxedEnvironment`: no attribute tricks, no mutation
of the context, bounded ranges and repetition. Missing values render empty, so an
event that lacks a field still notifies; syntax and sandbox violations raise
`TemplateError`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.notify.domain.model import ChannelKind, NotificationMessage

PARTS = ("title", "text", "html")
MAX_TEMPLATE_CHARS = 20_000
MAX_OUTPUT_CHARS = 100_000
_MAX_REPEAT = 10_000
_MAX_EXPONENT = 64

_TEXT = """\
{{ body }}
{% if fields %}

{% for name, value in fields.items() %}
{{ name }}: {{ value }}
{% endfor %}
{% endif %}
{% if url %}

{{ url }}
{% endif %}
"""

_HTML = """\
<!doctype html>
<html><body style="font-family:sans-serif">
<h2 style="margin:0 0 8px 0">{{ title }}</h2>
<p style="color:#555;margin:0 0 12px 0">{{ severity_label|capitalize }} &middot; {{ event_type }} \
&middot; {{ occurred_at }}</p>
<p style="white-space:pre-wrap">{{ body }}</p>
{% if fields %}
<table cellpadding="4" style="border-collapse:collapse">
{% for name, value in fields.items() %}
<tr><th align="left">{{ name }}</th><td>{{ value }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if url %}
<p><a href="{{ url }}">Open in Triage</a></p>
{% endif %}
</body></html>
"""

DEFAULT_TEMPLATES: Mapping[ChannelKind, Mapping[str, str]] = {
    ChannelKind.WEBHOOK: {"title": "{{ title }}", "text": "{{ body }}"},
    ChannelKind.NTFY: {"title": "{{ title }}", "text": _TEXT},
    ChannelKind.SMTP: {
        "title": "[{{ severity_label|upper }}] {{ title }}",
        "text": _TEXT,
        "html": _HTML,
    },
    ChannelKind.SLACK: {"title": "{{ title }}", "text": "{{ body }}"},
    ChannelKind.TEAMS: {"title": "{{ title }}", "text": "{{ body }}"},
}


class TemplateError(ValueError):
    """A template that does not compile or does not render; `reason` is stable."""

    def __init__(self, reason: str, part: str, detail: str) -> None:
        super().__init__(f"template {part!r}: {detail}")
        self.reason = reason
        self.part = part
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Rendered:
    """The rendered parts of one message for one channel."""

    title: str
    text: str
    html: str | None


def escape_mrkdwn(value: object) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    text = "" if value is None or isinstance(value, Undefined) else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
                raise SecurityError("exponent too large")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(count, int)
                and len(seq) * count > _MAX_REPEAT
            ):
                raise SecurityError("repetition too large")
        return operator.mul(left, right)


def _none_to_empty(value: object) -> object:
    return "" if value is None else value


def _environment(*, html: bool, slack: bool) -> _Sandbox:
    return _Sandbox(
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=Undefined,
        finalize=escape_mrkdwn if slack else _none_to_empty,
    )


_ENVS = {
    (html, slack): _environment(html=html, slack=slack)
    for html in (False, True)
    for slack in (False, True)
}


def _env_for(kind: ChannelKind, part: str) -> _Sandbox:
    return _ENVS[(part == "html", kind is ChannelKind.SLACK and part == "text")]


@functools.lru_cache(maxsize=512)
def _compile(kind: ChannelKind, part: str, source: str) -> Any:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError("template_too_large", part, f"longer than {MAX_TEMPLATE_CHARS}")
    try:
        return _env_for(kind, part).from_string(source)
    except JinjaTemplateError as exc:
        raise TemplateError("template_syntax", part, str(exc)) from exc


def templates_for(kind: ChannelKind, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Defaults of `kind` with the tenant's overrides applied (unknown parts refused)."""
    merged = dict(DEFAULT_TEMPLATES[kind])
    for part, source in (overrides or {}).items():
        if part not in PARTS or (part == "html" and kind is not ChannelKind.SMTP):
            raise TemplateError("unknown_part", part, f"{kind} channels have no {part!r} part")
        merged[part] = source
    return merged


def validate_overrides(kind: ChannelKind, overrides: Mapping[str, str]) -> None:
    """Compile every override now, so a bad template is refused when it is saved."""
    for part, source in templates_for(kind, overrides).items():
        _compile(kind, part, source)


def context_for(message: NotificationMessage) -> dict[str, Any]:
    """The variables a template sees."""
    return {
        "event_id": message.event_id,
        "event_type": message.event_type,
        "tenant_id": message.tenant_id,
        "occurred_at": message.occurred_at.isoformat(),
        "severity": message.severity,
        "severity_label": message.severity_label,
        "priority": message.priority,
        "title": message.title,
        "body": message.body,
        "url": message.url,
        "fields": dict(message.fields),
    }


def render(
    kind: ChannelKind, message: NotificationMessage, overrides: Mapping[str, str] | None = None
) -> Rendered:
    """Render title, text and (SMTP) html of `message` for a channel of `kind`."""
    sources = templates_for(kind, overrides)
    context = context_for(message)
    out: dict[str, str] = {}
    for part, source in sources.items():
        template = _compile(kind, part, source)
        try:
            text = str(template.render(context))
        except SecurityError as exc:
            raise TemplateError("template_forbidden", part, str(exc)) from exc
        except Exception as exc:
            raise TemplateError("template_render", part, f"{type(exc).__name__}: {exc}") from exc
        if len(text) > MAX_OUTPUT_CHARS:
            raise TemplateError("output_too_large", part, f"longer than {MAX_OUTPUT_CHARS}")
        out[part] = text.strip("\n") if part != "title" else " ".join(text.split())
    return Rendered(title=out["title"], text=out["text"], html=out.get("html"))
