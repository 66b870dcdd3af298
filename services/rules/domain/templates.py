"""Ticket title and description templates: Jinja2 in a bounded, immutable sandbox."""

from __future__ import annotations

from typing import Any, Final

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined

from services.rules.domain.model import SEVERITY_NAMES, RoutableAlert, Violation
from triage.runtime import BoundedEnvironment, BoundedText, Limits, render_bounded

MAX_TEMPLATE_CHARS: Final = 10_000
# A ticket title or description; loops, calls, values and time bounded per render.
LIMITS: Final = Limits(max_output_chars=20_000)

TEMPLATE_VARIABLES: Final = frozenset(
    {
        "alert_id",
        "tenant_id",
        "integration_id",
        "provider",
        "kind",
        "series_key",
        "device_id",
        "device_name",
        "client_id",
        "client_name",
        "site_id",
        "site_name",
        "condition",
        "severity",
        "severity_name",
        "raw_severity",
        "title",
        "message",
        "labels",
        "occurred_at",
        "received_at",
    }
)


class _Sandbox(BoundedEnvironment):
    """Refuses unsafe attributes loudly; work, values and output are bounded per render."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # The stock sandbox returns an Undefined that prints as "", hiding the refusal.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} is not allowed"
        )


# Ticket text is plain text, not HTML: escaping would turn "&" into "&amp;" in titles.
_ENV: Final = _Sandbox(limits=LIMITS, autoescape=False, undefined=Undefined)


def _private_accesses(ast: nodes.Template) -> list[str]:
    names: list[str] = []
    for node in ast.find_all(nodes.Getattr):
        names.append(node.attr)
    for item in ast.find_all(nodes.Getitem):
        key = item.arg
        if isinstance(key, nodes.Const) and isinstance(key.value, str):
            names.append(key.value)
    return [n for n in names if n.startswith("_")]


def compile_template(source: str, path: str, violations: list[Violation]) -> Template | None:
    """Parse and compile a template, recording syntax, safety or unknown-name problems."""
    if len(source) > MAX_TEMPLATE_CHARS:
        violations.append(Violation(path, f"longer than {MAX_TEMPLATE_CHARS} characters"))
        return None
    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        violations.append(
            Violation(path, f"template syntax error on line {exc.lineno}: {exc.message}")
        )
        return None
    before = len(violations)
    for attr in _private_accesses(ast):
        violations.append(Violation(path, f"access to {attr!r} is not allowed"))
    unknown = meta.find_undeclared_variables(ast) - TEMPLATE_VARIABLES - _ENV.globals.keys()
    if unknown:
        violations.append(
            Violation(
                path,
                f"unknown variable(s) {sorted(unknown)}; available: {sorted(TEMPLATE_VARIABLES)}",
            )
        )
    if len(violations) > before:
        return None
    return _ENV.from_string(ast)


def template_context(alert: RoutableAlert) -> dict[str, Any]:
    """The variables a template sees: the alert's fields plus `severity_name`."""
    return {
        "alert_id": alert.alert_id,
        "tenant_id": alert.tenant_id,
        "integration_id": alert.integration_id,
        "provider": alert.provider,
        "kind": alert.kind,
        "series_key": alert.series_key,
        "device_id": alert.device_id,
        "device_name": alert.device_name,
        "client_id": alert.client_id,
        "client_name": alert.client_name,
        "site_id": alert.site_id,
        "site_name": alert.site_name,
        "condition": alert.condition,
        "severity": alert.severity,
        "severity_name": SEVERITY_NAMES.get(alert.severity, str(alert.severity)),
        "raw_severity": alert.raw_severity,
        "title": alert.title,
        "message": alert.message,
        "labels": dict(alert.labels),
        "occurred_at": alert.occurred_at,
        "received_at": alert.received_at,
    }


def render(template: Template, context: dict[str, Any]) -> BoundedText:
    """Render a compiled template within LIMITS (a bound reached: truncated, `limited` says why).

    Other failures (sandbox refusals, errors in the template) raise.
    """
    return render_bounded(template, context)
