"""Title and description templates: rendering, sandboxing, and never failing a decision."""

from __future__ import annotations

from typing import Any

import pytest

from services.rules.domain import Actions, Decision, decide, validate_rule
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules


def _decide(actions: Actions, **alert_fields: Any) -> Decision:
    return decide(make_rules(make_rule(actions=actions)), [], make_alert(**alert_fields), T0)


def test_renders_alert_fields() -> None:
    decision = _decide(
        Actions(
            title_template=(
                "[{{ client_name }}] {{ device_name }}: {{ title }} ({{ severity_name }})"
            ),
            description_template="{{ message }}\nlabels: {{ labels.env }}\n{{ received_at.year }}",
        ),
        labels={"env": "prod"},
    )
    assert decision.title == "[Acme Corp] SRV-DC01: Disk C: low (medium)"
    assert decision.description == "Volume C: 93% used\nlabels: prod\n2025"


def test_no_html_escaping_and_title_is_one_line() -> None:
    decision = _decide(Actions(title_template="{{ title }}\n  &  <b>"), title="R&D <x>")
    assert decision.title == "R&D <x> & <b>"


def test_missing_label_renders_empty_and_default_filter_works() -> None:
    decision = _decide(
        Actions(title_template="team={{ labels.team }}|{{ labels.team | default('none') }}")
    )
    assert decision.title == "team=|none"


def test_undefined_chain_falls_back_to_alert_title_and_is_explained() -> None:
    decision = _decide(
        Actions(title_template="{{ labels.team.name.first }}", description_template="{{ 1 / 0 }}")
    )
    assert decision.kind == "routed"
    assert decision.title == "Disk C: low"
    assert decision.description == "Volume C: 93% used"
    notes = [e for e in decision.explanation if e.condition.endswith("_template")]
    assert [(n.rule_id, n.condition, n.matched) for n in notes] == [
        ("r1", "title_template", False),
        ("r1", "description_template", False),
    ]
    assert "UndefinedError" in notes[0].detail
    assert "ZeroDivisionError" in notes[1].detail


@pytest.mark.parametrize(
    "template",
    [
        "{{ title|attr('__class__') }}",
        "{{ title|attr('__len__') }}",
        "{{ ('x' * 100) * 100000 }}",
        "{{ 2 ** 100000 }}",
        "{% for i in range(10**9) %}x{% endfor %}",
    ],
)
def test_sandbox_refuses_at_render_time(template: str) -> None:
    # These pass the compile-time checks but the sandbox refuses them when rendering.
    decision = _decide(Actions(title_template=template))
    assert decision.title == "Disk C: low"
    assert any(e.condition == "title_template" and not e.matched for e in decision.explanation)


@pytest.mark.parametrize(
    "template", ["{{ ''.__class__ }}", "{{ title.__class__.__mro__ }}", "{{ labels['_x'] }}"]
)
def test_private_attribute_access_is_refused_at_compile_time(template: str) -> None:
    violations = validate_rule(make_rule(actions=Actions(title_template=template)))
    assert violations
    assert all(v.field_path == "actions.title_template" for v in violations)
    assert all("not allowed" in v.message for v in violations)


def test_immutable_sandbox_blocks_mutation() -> None:
    decision = _decide(Actions(title_template="{{ labels.update({'a': 1}) }}"), labels={"x": "y"})
    assert decision.title == "Disk C: low"


def test_empty_render_falls_back() -> None:
    decision = _decide(Actions(title_template="{{ site_id if false }}  "))
    assert decision.title == "Disk C: low"
