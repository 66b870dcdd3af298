"""Correlation rules: validation, the group key an alert gets, and its stability per series."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest

from services.rules.domain import Conditions, LabelMatcher, Schedule
from services.rules.domain.correlation import (
    MAX_PLAIN_KEY,
    CompiledCorrelationSet,
    CorrelationRule,
    compile_correlation_rule,
    compile_stored_correlation,
    group_key,
    validate_correlation_rule,
)
from tests.unit.rules.factories import make_alert


def make_correlation(rule_id: str = "c1", position: int = 0, **fields: Any) -> CorrelationRule:
    values: dict[str, Any] = {
        "id": rule_id,
        "name": f"corr {rule_id}",
        "position": position,
        "conditions": Conditions(conditions=("device.offline", "gateway.down")),
        "group_by": ("client_id", "site_id"),
        "window": timedelta(minutes=10),
    }
    values.update(fields)
    return CorrelationRule(**values)


def compiled(*rules: CorrelationRule) -> CompiledCorrelationSet:
    found: list[Any] = []
    result = CompiledCorrelationSet([compile_correlation_rule(r, found) for r in rules], UTC)
    assert found == []
    return result


def paths(rule: CorrelationRule) -> set[str]:
    return {v.field_path for v in validate_correlation_rule(rule)}


def test_a_valid_rule_has_no_violation() -> None:
    assert validate_correlation_rule(make_correlation()) == []


@pytest.mark.parametrize(
    ("conditions", "path"),
    [
        (Conditions(kinds=("trigger",)), "conditions.kinds"),
        (Conditions(min_severity=4), "conditions.min_severity"),
        (Conditions(message_regex="offline"), "conditions.message_regex"),
        (Conditions(keywords=("down",)), "conditions.keywords"),
        (Conditions(schedule=Schedule(days=frozenset({0}))), "conditions.time_conditions"),
    ],
)
def test_filters_that_may_split_a_series_are_refused(conditions: Conditions, path: str) -> None:
    """A trigger and its reset must land in one group: conditions that can differ between
    them (kind, severity, text, time) are refused in the filter, with the field named."""
    assert path in paths(make_correlation(conditions=conditions))


def test_the_primary_filter_may_use_any_condition() -> None:
    rule = make_correlation(primary=Conditions(min_severity=5, message_regex="WAN"))
    assert validate_correlation_rule(rule) == []


@pytest.mark.parametrize(
    ("group_by", "path"),
    [
        ((), "group_by"),
        (("client_id", "client_id"), "group_by[1]"),
        (("site",), "group_by[0]"),
        (("labels.",), "group_by[0]"),
        (tuple(f"labels.l{i}" for i in range(11)), "group_by"),
    ],
)
def test_group_by_is_validated(group_by: tuple[str, ...], path: str) -> None:
    assert path in paths(make_correlation(group_by=group_by))


@pytest.mark.parametrize(
    "window", [timedelta(0), timedelta(seconds=59), timedelta(hours=24, seconds=1)]
)
def test_window_is_bounded(window: timedelta) -> None:
    assert "window" in paths(make_correlation(window=window))


def test_bad_regex_in_the_filter_is_the_routing_compilers_violation() -> None:
    rule = make_correlation(
        conditions=Conditions(label_matchers=(LabelMatcher("role", "=~", "(a)\\1"),))
    )
    assert any(p.startswith("conditions.label_matchers") for p in paths(rule))


def test_an_empty_primary_filter_is_refused() -> None:
    assert "primary_conditions" in paths(make_correlation(primary=Conditions()))


def test_first_matching_rule_in_order_gives_the_key() -> None:
    by_site = make_correlation("c-site", 1)
    by_client = make_correlation("c-client", 0, group_by=("client_id",))
    result = compiled(by_site, by_client).correlate(make_alert(condition="device.offline"))
    assert result is not None
    assert result.rule_id == "c-client"
    assert result.group_key == "corr:c-client:client_id=c-1"
    assert result.values == (("client_id", "c-1"),)
    assert result.window == timedelta(minutes=10)


def test_disabled_and_non_matching_rules_are_skipped() -> None:
    rules = compiled(
        make_correlation("off", 0, enabled=False),
        make_correlation("other", 1, conditions=Conditions(providers=("datto",))),
        make_correlation("on", 2),
    )
    result = rules.correlate(make_alert(condition="device.offline"))
    assert result is not None and result.rule_id == "on"
    assert rules.correlate(make_alert(condition="disk.low")) is None


def test_an_alert_lacking_a_group_field_falls_to_the_next_rule() -> None:
    rules = compiled(
        make_correlation("by-rack", 0, group_by=("site_id", "labels.rack")),
        make_correlation("by-site", 1),
    )
    no_rack = rules.correlate(make_alert(condition="device.offline"))
    assert no_rack is not None and no_rack.rule_id == "by-site"
    racked = rules.correlate(make_alert(condition="device.offline", labels={"rack": "r7"}))
    assert racked is not None and racked.group_key == "corr:by-rack:site_id=s-1|labels.rack=r7"
    assert rules.correlate(make_alert(condition="device.offline", site_id=None)) is None


def test_devices_of_one_site_share_a_key_and_other_sites_do_not() -> None:
    rules = compiled(make_correlation())
    keys = {
        rules.correlate(
            make_alert(
                device_id=f"dev-{i}", series_key=f"dev-{i}/offline", condition="device.offline"
            )
        ).group_key  # type: ignore[union-attr]
        for i in range(50)
    }
    assert len(keys) == 1
    other = rules.correlate(make_alert(site_id="s-2", condition="device.offline"))
    assert other is not None and other.group_key not in keys


def test_a_series_trigger_reset_and_ack_share_the_key() -> None:
    """The per-series order holds: every alert of a series maps to one group key (and so
    one partition) whatever its kind, severity or text, while the rule set stays."""
    rules = compiled(make_correlation(primary=Conditions(min_severity=5)))
    alerts = [
        make_alert(kind="trigger", severity=5, condition="device.offline", title="down"),
        make_alert(kind="acknowledge", severity=5, condition="device.offline", title="ack"),
        make_alert(kind="reset", severity=1, condition="device.offline", title="back up"),
    ]
    results = [rules.correlate(a) for a in alerts]
    assert len({r.group_key for r in results if r is not None}) == 1
    assert [r.primary for r in results if r is not None] == [True, True, False]


def test_primary_filter_marks_the_gateway() -> None:
    rules = compiled(make_correlation(primary=Conditions(conditions=("gateway.down",))))
    gateway = rules.correlate(make_alert(condition="gateway.down", device_id="fw-1"))
    device = rules.correlate(make_alert(condition="device.offline"))
    assert gateway is not None and gateway.primary
    assert device is not None and not device.primary
    assert gateway.group_key == device.group_key


def test_without_a_primary_filter_no_member_is_primary() -> None:
    result = compiled(make_correlation()).correlate(make_alert(condition="device.offline"))
    assert result is not None and not result.primary


def test_long_keys_are_hashed_and_stable() -> None:
    values = [("labels.service", "x" * 500)]
    key = group_key("c1", values)
    assert key.startswith("corr:c1:sha256:") and len(key) <= MAX_PLAIN_KEY
    assert key == group_key("c1", list(values))
    assert key != group_key("c1", [("labels.service", "y" * 500)])


def test_separators_in_values_cannot_forge_another_key() -> None:
    a = group_key("c1", [("client_id", "a|site_id=b")])
    b = group_key("c1", [("client_id", "a"), ("site_id", "b")])
    assert a != b


def test_stored_rules_the_checks_now_refuse_are_left_out() -> None:
    bad = make_correlation("bad", 0, group_by=("nope",))
    good = make_correlation("good", 1)
    rules = compile_stored_correlation([bad, good], UTC)
    result = rules.correlate(make_alert(condition="device.offline"))
    assert result is not None and result.rule_id == "good"
