"""Sanity at scale (200 rules, 50 windows) and the indexed fast path against plain evaluation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.rules_decisions import BENCH_NOW, bench_decisions, build_bench_setup
from services.rules.domain import Actions, Conditions, LabelMatcher, RoutableAlert, decide
from services.rules.domain.checks import Facts
from services.rules.domain.compiler import CompiledRuleSet
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules


def _plain_match(rules: CompiledRuleSet, alert: RoutableAlert) -> tuple[str, ...]:
    facts = Facts(alert, rules.zone)
    chain: list[str] = []
    for rule in rules.rules:
        if rule.rule.enabled and rule.matches(facts):
            chain.append(rule.rule.id)
            if not rule.rule.actions.continue_:
                break
    return tuple(chain)


def test_two_hundred_rules_and_fifty_windows() -> None:
    rules, windows, alerts = build_bench_setup()
    assert len(rules.rules) == 200
    assert len(windows.windows) == 50
    kinds = set()
    for i, alert in enumerate(alerts):
        decision = decide(rules, windows, alert, BENCH_NOW + timedelta(minutes=i))
        kinds.add(decision.kind)
        assert decision.rule_set_version == 1
        if decision.kind != "suppressed":
            assert decision.matched_rule_ids == _plain_match(rules, alert)
        assert len(decision.explanation) > 0
    assert {"routed", "unmatched"} <= kinds


def test_bench_function_runs() -> None:
    assert bench_decisions(50) > 0


names = st.sampled_from(["a", "b", "c"])


@st.composite
def conditions(draw: st.DrawFn) -> Conditions:
    return Conditions(
        providers=tuple(draw(st.lists(st.sampled_from(["ninjaone", "Datto"]), max_size=2))),
        integration_ids=tuple(draw(st.lists(st.sampled_from(["int-1", "int-2"]), max_size=1))),
        clients=tuple(draw(st.lists(st.sampled_from(["c-1", "ACME CORP", "c-2"]), max_size=2))),
        sites=tuple(draw(st.lists(st.sampled_from(["s-1", "s-2"]), max_size=1))),
        min_severity=draw(st.none() | st.integers(1, 5)),
        kinds=tuple(draw(st.lists(st.sampled_from(["trigger", "reset"]), max_size=1))),
        conditions=tuple(
            draw(st.lists(st.sampled_from(["disk.low", "DISK.*", "cpu.high"]), max_size=2))
        ),
        label_matchers=tuple(
            draw(
                st.lists(
                    st.builds(LabelMatcher, names, st.sampled_from(["=", "!="]), names), max_size=1
                )
            )
        ),
    )


@settings(max_examples=150, deadline=None)
@given(
    rule_conditions=st.lists(conditions(), min_size=1, max_size=8),
    continues=st.lists(st.booleans(), min_size=8, max_size=8),
    enabled=st.lists(st.booleans(), min_size=8, max_size=8),
    alert_fields=st.fixed_dictionaries(
        {
            "provider": st.sampled_from(["ninjaone", "datto", "level"]),
            "integration_id": st.sampled_from(["int-1", "int-2"]),
            "client_id": st.sampled_from(["c-1", "c-2", None]),
            "client_name": st.sampled_from(["Acme Corp", None]),
            "site_id": st.sampled_from(["s-1", None]),
            "severity": st.integers(1, 5),
            "kind": st.sampled_from(["trigger", "reset"]),
            "condition": st.sampled_from(["disk.low", "Disk.High", "cpu.high"]),
            "labels": st.dictionaries(names, names, max_size=2),
        }
    ),
)
def test_indexed_match_equals_plain_evaluation(
    rule_conditions: list[Conditions],
    continues: list[bool],
    enabled: list[bool],
    alert_fields: dict[str, Any],
) -> None:
    rules = make_rules(
        *(
            make_rule(
                f"r{i}",
                i,
                conditions=c,
                enabled=enabled[i],
                actions=Actions(continue_=continues[i]),
            )
            for i, c in enumerate(rule_conditions)
        )
    )
    alert = make_alert(**alert_fields)
    assert decide(rules, [], alert, T0).matched_rule_ids == _plain_match(rules, alert)
