"""SLA notify actions that ask for the tenant's default channels."""

from __future__ import annotations

from services.notify.domain.defaults import EnabledChannel, default_channel_ids
from services.notify.domain.policy import EventFacts, Policy, Target, plan_targets

BREACHED = "sla.breached"


def test_default_channels_are_added_after_policies_and_rule_targets_once_each() -> None:
    policies = [Policy("p1", frozenset({BREACHED}), ("c1",))]
    facts = EventFacts(event_type=BREACHED, target_channel_ids=("c2",), default_channels=True)
    assert plan_targets(policies, facts, ["c1", "c3", "c2"]) == [
        Target("c1", "p1", None),
        Target("c2", None, None),
        Target("c3", None, None),
    ]


def test_default_channels_are_used_only_when_asked_for() -> None:
    facts = EventFacts(event_type=BREACHED)
    assert plan_targets([], facts, ["c1"]) == []


def test_a_tenant_without_channels_gets_nothing_and_exclusions_hold() -> None:
    asked = EventFacts(event_type=BREACHED, default_channels=True)
    assert plan_targets([], asked) == []
    excluded = EventFacts(
        event_type=BREACHED, default_channels=True, exclude_channel_ids=frozenset({"c1"})
    )
    assert plan_targets([], excluded, ["c1", "c2"]) == [Target("c2", None, None)]


def test_the_channels_marked_default_are_the_default_channels() -> None:
    enabled = [EnabledChannel("c1", default=False), EnabledChannel("c2", default=True)]
    assert default_channel_ids(enabled) == ["c2"]


def test_a_tenant_that_marks_none_has_every_enabled_channel_as_default() -> None:
    enabled = [EnabledChannel("c1", default=False), EnabledChannel("c2", default=False)]
    assert default_channel_ids(enabled) == ["c1", "c2"]
    assert default_channel_ids([]) == []
