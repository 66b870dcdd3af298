"""Validation names the offending field and reports every problem at once."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any, cast

import pytest

from services.rules.domain import (
    Actions,
    Conditions,
    LabelMatcher,
    Persistence,
    RuleSet,
    RuleValidationError,
    Schedule,
    TimeRange,
    compile_rule_set,
    validate_rule,
    validate_rule_set,
)
from services.rules.domain import (
    Violation as FieldViolation,
)
from tests.unit.rules.factories import make_rule

BAD_RULES = [
    (Conditions(message_regex="(unclosed"), None, "conditions.message_regex"),
    (
        Conditions(label_matchers=(LabelMatcher("env", "=~", "[z-a]"),)),
        None,
        "conditions.label_matchers[0].value",
    ),
    (
        Conditions(label_matchers=(LabelMatcher("env", cast(Any, "~"), "x"),)),
        None,
        "conditions.label_matchers[0].op",
    ),
    (
        Conditions(label_matchers=(LabelMatcher("", "=", "x"),)),
        None,
        "conditions.label_matchers[0].name",
    ),
    (Conditions(min_severity=9), None, "conditions.min_severity"),
    (Conditions(kinds=("trigger", "explode")), None, "conditions.kinds[1]"),
    (Conditions(device_globs=("",)), None, "conditions.device_globs[0]"),
    (Conditions(providers=("",)), None, "conditions.providers[0]"),
    (Conditions(schedule=Schedule(days=frozenset({7}))), None, "conditions.schedule.days"),
    (None, Actions(title_template="{{ title "), "actions.title_template"),
    (None, Actions(description_template="{% if %}"), "actions.description_template"),
    (None, Actions(title_template="{{ nope }}"), "actions.title_template"),
    (None, Actions(title_template="{{ title.__class__ }}"), "actions.title_template"),
    (None, Actions(title_template="{{ labels['__x'] }}"), "actions.title_template"),
    (None, Actions(persistence=Persistence(0, timedelta(minutes=5))), "actions.persistence.count"),
    (None, Actions(persistence=Persistence(2, timedelta(0))), "actions.persistence.within"),
    (None, Actions(priority_override=0), "actions.priority_override"),
    (None, Actions(priority_map={5: 7}), "actions.priority_map[5]"),
    (None, Actions(priority_map={6: 1}), "actions.priority_map[6]"),
    (None, Actions(notify_channel_ids=("",)), "actions.notify_channel_ids[0]"),
]


@pytest.mark.parametrize(
    ("conditions", "actions", "field"), BAD_RULES, ids=[b[2] for b in BAD_RULES]
)
def test_bad_rule_names_the_field(
    conditions: Conditions | None, actions: Actions | None, field: str
) -> None:
    violations = validate_rule(make_rule(conditions=conditions, actions=actions))
    assert field in [v.field_path for v in violations]


def test_valid_rule_has_no_violations() -> None:
    rule = make_rule(
        conditions=Conditions(
            message_regex=r"\d+%",
            label_matchers=(LabelMatcher("env", "=~", "prod|dev"),),
            schedule=Schedule(ranges=(TimeRange(time(22), time(6)),)),
        ),
        actions=Actions(title_template="{{ client_name | default('?') }}: {{ labels.env }}"),
    )
    assert validate_rule(rule) == []


def test_compile_raises_with_index_path_and_all_violations() -> None:
    rule_set = RuleSet(
        tenant_id="t",
        version=1,
        time_zone="Mars/Olympus",
        rules=(
            make_rule("a", 0),
            make_rule("b", 1),
            make_rule("c", 2, conditions=Conditions(message_regex="*bad")),
            make_rule("a", 3),
        ),
    )
    with pytest.raises(RuleValidationError) as caught:
        compile_rule_set(rule_set)
    err = caught.value
    assert err.field_path == "time_zone"
    paths = [v.field_path for v in err.violations]
    assert paths == ["time_zone", "rules[2].conditions.message_regex", "rules[3].id"]
    assert validate_rule_set(rule_set) == list(err.violations)


def test_default_actions_are_validated() -> None:
    rule_set = RuleSet(
        tenant_id="t", version=1, default_actions=Actions(title_template="{{", continue_=True)
    )
    paths = {v.field_path for v in validate_rule_set(rule_set)}
    assert paths == {"default_actions.title_template", "default_actions.continue_"}


def test_violation_message_is_useful() -> None:
    [violation] = validate_rule(make_rule(actions=Actions(title_template="{{ devce_name }}")))
    assert violation == FieldViolation("actions.title_template", violation.message)
    assert "devce_name" in violation.message
    assert "device_name" in violation.message
