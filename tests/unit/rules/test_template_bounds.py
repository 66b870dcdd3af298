"""Rule templates render within bounds on the routing, Evaluate and Simulate paths."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.rules.domain import (
    Actions,
    Conditions,
    Decision,
    MaintenanceWindow,
    WindowValidationError,
    decide,
    simulate,
)
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules

NESTED_SILENT = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
NESTED_LOUD = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


def _notes(decision: Decision) -> dict[str, str]:
    entries = decision.explanation
    return {e.condition: e.detail for e in entries if e.condition.endswith("_template")}


def test_nested_range_title_is_bounded_and_falls_back_to_the_alert_title() -> None:
    rules = make_rules(make_rule(actions=Actions(title_template="T " + NESTED_SILENT)))
    decision = decide(rules, [], make_alert(), T0)
    assert decision.kind == "routed"
    assert decision.title == "Disk C: low"
    note = _notes(decision)["title_template"]
    assert "render stopped: more than 10000 loop iterations and calls" in note


def test_nested_range_description_is_capped_and_marked_truncated() -> None:
    rules = make_rules(make_rule(actions=Actions(description_template=NESTED_LOUD)))
    decision = decide(rules, [], make_alert(), T0)
    assert decision.description.startswith("x" * 1000)
    assert "[truncated: " in decision.description
    assert len(decision.description) < 20_000 + 200
    assert "output truncated" in _notes(decision)["description_template"]


def test_simulate_uses_the_same_bounded_paths() -> None:
    proposed = make_rules(
        make_rule(
            conditions=Conditions(message_regex=r"^(a+)+$"),
            actions=Actions(title_template=NESTED_SILENT, description_template=NESTED_LOUD),
        )
    )
    alerts = [
        make_alert(alert_id="a-1", message="a" * 50_000 + "!"),
        make_alert(alert_id="a-2", message="a" * 50_000),
    ]
    report = simulate(make_rules(), proposed, [], [], alerts)
    assert report.changed_alert_ids == ("a-2",)


def test_simulate_refuses_a_proposed_window_that_cannot_expand() -> None:
    window = MaintenanceWindow(
        id="w", name="n", rrule="FREQ=DAILY;INTERVAL=0", duration=timedelta(hours=1), starts_at=T0
    )
    with pytest.raises(WindowValidationError):
        simulate(make_rules(), make_rules(), [], [window], [make_alert()])
