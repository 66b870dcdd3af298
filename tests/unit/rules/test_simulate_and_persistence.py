"""Simulation over a seeded history, and the persistence helper."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.rules.domain import (
    Actions,
    Conditions,
    MaintenanceWindow,
    OutcomeCounts,
    RoutableAlert,
    WindowScope,
    persistence_satisfied,
    simulate,
)
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules


def _history(seed: int = 11) -> list[RoutableAlert]:
    rng = random.Random(seed)
    alerts = []
    for i in range(60):
        at = T0 + timedelta(minutes=10 * i)
        alerts.append(
            make_alert(
                alert_id=f"a{i}",
                kind=rng.choice(["trigger", "trigger", "reset"]),
                condition=rng.choice(["disk.low", "cpu.high", "service.stopped"]),
                client_id=rng.choice(["c-1", "c-2"]),
                client_name=None,
                received_at=at,
            )
        )
    return alerts


def _expected(alerts: list[RoutableAlert], predicate: Callable[[RoutableAlert], bool]) -> int:
    return sum(1 for a in alerts if predicate(a))


def test_simulate_counts_side_by_side() -> None:
    alerts = _history()
    disk = make_rule("disk", 0, conditions=Conditions(conditions=("disk.*",)))
    cpu_record = make_rule(
        "cpu", 1, conditions=Conditions(conditions=("cpu.*",)), actions=Actions(create_ticket=False)
    )
    current = make_rules(disk)
    proposed = make_rules(disk, cpu_record, version=4)
    window = MaintenanceWindow(
        id="maint",
        name="c-2 patching",
        starts_at=T0 + timedelta(hours=2),
        ends_at=T0 + timedelta(hours=4),
        scope=WindowScope(clients=("c-2",)),
    )
    report = simulate(current, proposed, [], [window], reversed(alerts))

    def in_window(a: RoutableAlert) -> bool:
        return a.client_id == "c-2" and T0 + timedelta(hours=2) <= a.received_at < T0 + timedelta(
            hours=4
        )

    disk_triggers = _expected(alerts, lambda a: a.condition == "disk.low" and a.kind == "trigger")
    disk_all = _expected(alerts, lambda a: a.condition == "disk.low")
    rows = {r.key: r for r in report.rows}
    assert report.alerts == 60
    assert rows["disk"].current == OutcomeCounts(routed=disk_all, tickets_opened=disk_triggers)
    live = [a for a in alerts if not in_window(a)]
    assert rows["disk"].proposed.tickets_opened == _expected(
        live, lambda a: a.condition == "disk.low" and a.kind == "trigger"
    )
    assert rows["cpu"].current == OutcomeCounts()
    cpu_live = _expected(live, lambda a: a.condition == "cpu.high")
    assert rows["cpu"].proposed == OutcomeCounts(routed=cpu_live, record_only=cpu_live)
    assert rows["window:maint"].proposed.suppressed == _expected(alerts, in_window)
    assert rows["window:maint"].current.suppressed == 0
    unmatched_now = _expected(alerts, lambda a: a.condition != "disk.low")
    assert rows["(unmatched)"].current == OutcomeCounts(
        unmatched=unmatched_now, record_only=unmatched_now
    )
    assert report.current.routed + report.current.unmatched + report.current.suppressed == 60
    assert report.proposed.routed + report.proposed.unmatched + report.proposed.suppressed == 60
    assert report.proposed.suppressed == _expected(alerts, in_window)
    changed = {a.alert_id for a in alerts if a.condition == "cpu.high" or in_window(a)}
    assert set(report.changed_alert_ids) == changed
    assert [r.key for r in report.rows] == ["disk", "cpu", "window:maint", "(unmatched)"]


def test_simulate_identical_sides_change_nothing() -> None:
    rules = make_rules(make_rule())
    report = simulate(rules, rules, [], [], _history())
    assert report.changed_alert_ids == ()
    assert report.current == report.proposed


M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("offsets", "count", "within", "expected"),
    [
        ([], 1, 5 * M, False),
        ([0], 1, 5 * M, True),
        ([-4, -2], 3, 5 * M, False),
        ([-4, -2, 0], 3, 5 * M, True),
        ([-5, -2, 0], 3, 5 * M, True),
        ([-6, -2, 0], 3, 5 * M, False),
        ([-2, 0, 3], 3, 5 * M, False),
    ],
)
def test_persistence_satisfied(
    offsets: list[int], count: int, within: timedelta, expected: bool
) -> None:
    now = datetime(2025, 6, 4, 12, tzinfo=UTC)
    times = [now + o * M for o in offsets]
    assert persistence_satisfied(times, now, count, within) is expected


def test_persistence_rejects_zero_count() -> None:
    with pytest.raises(ValueError, match="count"):
        persistence_satisfied([], T0, 0, M)
