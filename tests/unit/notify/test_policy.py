from __future__ import annotations

from datetime import UTC, datetime, time

from services.notify.domain.policy import (
    EventFacts,
    Policy,
    PolicyFilter,
    Target,
    plan_targets,
    quiet_release,
)
from services.notify.domain.quiet_hours import QuietHours


def _facts(**overrides: object) -> EventFacts:
    values: dict[str, object] = {
        "event_type": "ticket.opened",
        "severity": 4,
        "priority": 2,
        "client_id": "acme",
        "queue": "servers",
        "rule_ids": ("r1",),
    }
    values.update(overrides)
    return EventFacts(**values)  # type: ignore[arg-type]


def test_filters_combine_with_and_and_lists_match_any() -> None:
    f = PolicyFilter(min_severity=4, priorities=frozenset({1, 2}), queues=frozenset({"servers"}))
    assert f.matches(_facts())
    assert not f.matches(_facts(severity=3))
    assert not f.matches(_facts(priority=3))
    assert not f.matches(_facts(queue=None))
    assert PolicyFilter(rule_ids=frozenset({"r2", "r1"})).matches(_facts())
    assert not PolicyFilter(client_ids=frozenset({"other"})).matches(_facts())


def test_one_target_per_channel_policy_first_then_rule_targets() -> None:
    policies = [
        Policy("p1", frozenset({"ticket.opened"}), ("c1", "c2")),
        Policy("p2", frozenset({"ticket.opened"}), ("c2", "c3"), disabled=True),
        Policy("p3", frozenset({"sla.breached"}), ("c4",)),
    ]
    facts = _facts(target_channel_ids=("c2", "c5"), target_rule_id="r1")
    assert plan_targets(policies, facts) == [
        Target("c1", "p1", None),
        Target("c2", "p1", "r1"),
        Target("c5", None, "r1"),
    ]
    failing = _facts(exclude_channel_ids=frozenset({"c1"}))
    assert [t.channel_id for t in plan_targets(policies, failing)] == ["c2"]


def test_quiet_release_chains_windows_and_lets_critical_through() -> None:
    evening = QuietHours(start=time(22), end=time(23), zone="UTC")
    night = QuietHours(start=time(23), end=time(6), zone="UTC")
    at = datetime(2030, 1, 7, 22, 30, tzinfo=UTC)
    assert quiet_release([evening, night], at, critical=False, hold_critical=False) == datetime(
        2030, 1, 8, 6, 0, tzinfo=UTC
    )
    assert quiet_release([evening, night], at, critical=True, hold_critical=False) is None
    assert quiet_release([evening], at, critical=True, hold_critical=True) == datetime(
        2030, 1, 7, 23, 0, tzinfo=UTC
    )
    assert (
        quiet_release([evening], at.replace(hour=12), critical=False, hold_critical=False) is None
    )
