"""Ordering, `continue_` merging, priorities, defaults and explanations."""

from __future__ import annotations

from datetime import timedelta

from services.rules.domain import (
    Actions,
    Conditions,
    ExplanationEntry,
    Persistence,
    decide,
    merge_actions,
)
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules

DISK = Conditions(conditions=("disk.*",))
CPU = Conditions(conditions=("cpu.*",))


def test_first_matching_rule_by_position_wins() -> None:
    rules = make_rules(
        make_rule("late", 20, actions=Actions(queue="late")),
        make_rule("cpu", 5, conditions=CPU, actions=Actions(queue="cpu")),
        make_rule("disk", 10, conditions=DISK, actions=Actions(queue="disk")),
    )
    decision = decide(rules, [], make_alert(), T0)
    assert decision.kind == "routed"
    assert decision.rule_id == "disk"
    assert decision.matched_rule_ids == ("disk",)
    assert decision.actions is not None
    assert decision.actions.queue == "disk"
    assert decision.rule_set_version == 3


def test_disabled_rule_is_skipped_and_explained() -> None:
    rules = make_rules(make_rule("off", 0, enabled=False), make_rule("on", 1))
    decision = decide(rules, [], make_alert(), T0)
    assert decision.rule_id == "on"
    assert decision.explanation[0] == ExplanationEntry("off", "enabled", False, "rule is disabled")


def test_continue_merges_later_rules() -> None:
    rules = make_rules(
        make_rule(
            "tag",
            0,
            actions=Actions(queue="msp", notify_channel_ids=("slack", "mail"), continue_=True),
        ),
        make_rule("cpu", 1, conditions=CPU, actions=Actions(queue="never", assignee="nobody")),
        make_rule(
            "disk",
            2,
            conditions=DISK,
            actions=Actions(
                queue="storage",
                assignee="alice",
                create_ticket=False,
                priority_override=1,
                notify_channel_ids=("pager", "slack"),
            ),
        ),
        make_rule("after", 3, actions=Actions(assignee="bob")),
    )
    decision = decide(rules, [], make_alert(), T0)
    assert decision.matched_rule_ids == ("tag", "disk")
    assert decision.actions is not None
    assert decision.actions.queue == "msp"
    assert decision.actions.assignee == "alice"
    assert decision.actions.create_ticket is False
    assert decision.actions.notify_channel_ids == ("slack", "mail", "pager")
    assert decision.priority == 1
    conditions = [(e.rule_id, e.condition, e.matched) for e in decision.explanation]
    assert ("cpu", "conditions", False) in conditions
    assert ("tag", "rule", True) in conditions
    assert all(e.rule_id != "after" for e in decision.explanation)


def test_continue_with_nothing_after_keeps_first() -> None:
    rules = make_rules(make_rule("only", 0, actions=Actions(continue_=True, queue="q")))
    decision = decide(rules, [], make_alert(), T0)
    assert decision.matched_rule_ids == ("only",)
    assert decision.kind == "routed"


def test_merge_priority_is_one_field() -> None:
    merged = merge_actions(
        [Actions(priority_map={3: 4}, continue_=True), Actions(priority_override=1, queue="q")]
    )
    assert merged.priority_map == {3: 4}
    assert merged.priority_override is None
    assert merged.queue == "q"
    assert merged.continue_ is False


def test_priority_map_override_and_default() -> None:
    by_map = make_rules(make_rule(actions=Actions(priority_map={3: 2})))
    assert decide(by_map, [], make_alert(severity=3), T0).priority == 2
    assert decide(by_map, [], make_alert(severity=5), T0).priority == 1
    override = make_rules(make_rule(actions=Actions(priority_override=4, priority_map={3: 2})))
    assert decide(override, [], make_alert(severity=3), T0).priority == 4


def test_defaults_of_a_matched_rule() -> None:
    decision = decide(make_rules(make_rule()), [], make_alert(), T0)
    assert decision.actions is not None
    assert decision.actions.create_ticket is True
    assert decision.actions.close_on_reset is True
    assert decision.actions.reset_in_rmm_on_close is True
    assert decision.title == "Disk C: low"
    assert decision.description == "Volume C: 93% used"


def test_unmatched_records_only_by_default() -> None:
    rules = make_rules(make_rule(conditions=CPU))
    decision = decide(rules, [], make_alert(), T0)
    assert decision.kind == "unmatched"
    assert decision.rule_id is None
    assert decision.actions is not None
    assert decision.actions.create_ticket is False
    assert decision.explanation[-1].condition == "default"


def test_unmatched_uses_tenant_default_actions() -> None:
    defaults = Actions(
        create_ticket=True,
        queue="triage",
        title_template="Unrouted: {{ title }}",
        persistence=Persistence(3, timedelta(minutes=10)),
    )
    decision = decide(make_rules(default_actions=defaults), [], make_alert(), T0)
    assert decision.kind == "unmatched"
    assert decision.actions is not None
    assert decision.actions.create_ticket is True
    assert decision.actions.queue == "triage"
    assert decision.actions.persistence == Persistence(3, timedelta(minutes=10))
    assert decision.title == "Unrouted: Disk C: low"


def test_explanation_lists_each_condition_until_the_first_failure() -> None:
    rules = make_rules(
        make_rule("a", 0, conditions=Conditions(providers=("ninjaone",), min_severity=5)),
        make_rule("b", 1, conditions=Conditions(providers=("ninjaone",), keywords=("volume",))),
    )
    entries = list(decide(rules, [], make_alert(), T0).explanation)
    assert [(e.rule_id, e.condition, e.matched) for e in entries] == [
        ("a", "providers", True),
        ("a", "min_severity", False),
        ("b", "providers", True),
        ("b", "keywords", True),
        ("b", "rule", True),
    ]
    assert entries[1].detail == "severity medium < critical"
    assert entries[3].detail == "found ['volume'] in title or message"


def test_ties_in_position_break_by_id() -> None:
    rules = make_rules(make_rule("b", 1), make_rule("a", 1))
    assert decide(rules, [], make_alert(), T0).rule_id == "a"
