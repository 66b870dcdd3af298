"""Default templates per channel kind and sandboxed tenant overrides.

A channel renders three parts: `title` (subject line, card title), `text` (plain
body; mrkdwn for Slack) and `html` (SMTP only). Tenant overrides replace single parts
and run in the shared bounded sandbox (`triage.runtime.sandbox`): no attribute tricks,
no mutation of the context, and loops, calls, values, output and time bounded per render.
A render that reaches a bound gives its text so far with a `[truncated: why]` marker, so a
tenant's template can never stall the consumer. Missing values render empty, so an event
that lacks a field still notifies; syntax errors and sandbox refusals raise `TemplateError`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import Undefined
from jinja2.exceptions import SecurityError

from services.notify.domain.model import ChannelKind, NotificationMessage
from triage.runtime import BoundedEnvironment, Limits, render_bounded

PARTS = ("title", "text", "html")
MAX_TEMPLATE_CHARS = 20_000
MAX_OUTPUT_CHARS = 100_000
LIMITS = Limits(max_output_chars=MAX_OUTPUT_CHARS)

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


def _none_to_empty(value: object) -> object:
    return "" if value is None else value


def _environment(*, html: bool, slack: bool) -> BoundedEnvironment:
    return BoundedEnvironment(
        limits=LIMITS,
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


def _env_for(kind: ChannelKind, part: str) -> BoundedEnvironment:
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
            # A bound reached is not an error: the text is cut and says why.
            text = render_bounded(template, context).text
        except SecurityError as exc:
            raise TemplateError("template_forbidden", part, str(exc)) from exc
        except Exception as exc:
            raise TemplateError("template_render", part, f"{type(exc).__name__}: {exc}") from exc
        out[part] = text.strip("\n") if part != "title" else " ".join(text.split())
    return Rendered(title=out["title"], text=out["text"], html=out.get("html"))
