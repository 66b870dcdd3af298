"""Rows saved before the checks tightened compile harmlessly on the routing path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.rules.domain import (
    Conditions,
    MaintenanceWindow,
    RuleSet,
    RuleValidationError,
    WindowValidationError,
    compile_rule_set,
    compile_windows,
    decide,
)
from services.rules.domain.stored import compile_stored_rule_set, compile_stored_windows
from tests.unit.rules.factories import T0, make_alert, make_rule

FEB_30 = MaintenanceWindow(
    id="legacy",
    name="never",
    rrule="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    duration=timedelta(hours=1),
    starts_at=T0,
)
NOW_ON = MaintenanceWindow(
    id="on", name="on", starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(hours=1)
)


def test_a_window_the_checks_now_refuse_is_inert_not_fatal() -> None:
    with pytest.raises(WindowValidationError):
        compile_windows([FEB_30])
    windows = compile_stored_windows([FEB_30, NOW_ON])
    assert [w.window.id for w, _ in windows.active_at(T0)] == ["on"]
    assert not compile_stored_windows([FEB_30]).active_at(T0)


def test_a_rule_the_checks_now_refuse_is_disabled_not_fatal() -> None:
    legacy = make_rule("old", 0, conditions=Conditions(message_regex=r"(\w)\1"))
    good = make_rule("new", 1)
    rule_set = RuleSet(tenant_id="t-1", version=4, rules=(legacy, good))
    with pytest.raises(RuleValidationError):
        compile_rule_set(rule_set)
    compiled = compile_stored_rule_set(rule_set)
    decision = decide(compiled, [], make_alert(message="aa"), T0)
    assert decision.matched_rule_ids == ("new",)
    assert ("old", "enabled", False) in [
        (e.rule_id, e.condition, e.matched) for e in decision.explanation
    ]


def test_a_valid_stored_rule_set_compiles_as_is() -> None:
    rule_set = RuleSet(tenant_id="t-1", version=1, rules=(make_rule("r1"),))
    assert compile_stored_rule_set(rule_set).rules[0].rule == rule_set.rules[0]
