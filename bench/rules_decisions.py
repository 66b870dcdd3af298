"""Decision latency for one alert against 200 rules and 50 windows (used by `make bench`)."""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

from services.rules.domain.compiler import CompiledRuleSet, compile_rule_set
from services.rules.domain.decision import decide
from services.rules.domain.model import (
    Actions,
    Conditions,
    LabelMatcher,
    RoutableAlert,
    Rule,
    RuleSet,
    Schedule,
    TimeRange,
)
from services.rules.domain.windows import (
    CompiledWindowSet,
    MaintenanceWindow,
    WindowScope,
    compile_windows,
)

PROVIDERS = ("ninjaone", "tacticalrmm", "datto", "level", "alertmanager", "generic")
CONDITIONS = tuple(
    f"{area}.{what}"
    for area in ("disk", "cpu", "memory", "service", "backup", "patch")
    for what in ("high", "low", "failed", "stopped", "offline")
)
BENCH_NOW = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)


def _rule(i: int, rng: random.Random) -> Rule:
    shape = i % 6
    c: Conditions
    if shape == 0:
        c = Conditions(
            providers=(rng.choice(PROVIDERS),),
            min_severity=rng.randint(2, 5),
            keywords=(f"kw{rng.randrange(100)}", "unreachable"),
        )
    elif shape == 1:
        c = Conditions(
            clients=(f"client-{rng.randrange(40)}", f"Client {rng.randrange(40)}"),
            device_globs=(f"srv-{rng.randrange(20)}*", "*-dc??"),
        )
    elif shape == 2:
        c = Conditions(
            conditions=(rng.choice(CONDITIONS), rng.choice(CONDITIONS)),
            kinds=("trigger",),
        )
    elif shape == 3:
        c = Conditions(
            conditions=(f"{rng.choice(('disk', 'cpu', 'backup'))}.*",),
            message_regex=rf"(?i)volume [a-z]: {rng.randrange(90)}% used",
        )
    elif shape == 4:
        c = Conditions(
            providers=("alertmanager",),
            label_matchers=(
                LabelMatcher("team", "=", f"team-{rng.randrange(10)}"),
                LabelMatcher("env", "=~", "prod|staging"),
            ),
        )
    else:
        c = Conditions(
            min_severity=rng.randint(3, 5),
            sites=(f"site-{rng.randrange(60)}",),
            schedule=Schedule(days=frozenset({0, 1, 2, 3, 4}), ranges=(TimeRange(*_times(rng)),)),
        )
    actions = Actions(
        queue=f"queue-{i % 7}",
        title_template="[{{ client_name }}] {{ device_name }}: {{ title }}" if i % 3 == 0 else None,
        notify_channel_ids=(f"chan-{i % 5}",),
        continue_=i % 25 == 0,
    )
    scope = (f"int-{rng.randrange(10)}",) if i % 10 == 0 else ()
    return Rule(
        id=f"rule-{i:03d}",
        name=f"Rule {i}",
        position=i,
        integration_ids=scope,
        conditions=c,
        actions=actions,
    )


def _times(rng: random.Random) -> tuple[clock_time, clock_time]:
    start = datetime(2000, 1, 1, rng.randrange(24), 0)
    end = start + timedelta(hours=rng.randint(2, 12))
    return start.time(), end.time()


def _window(i: int, rng: random.Random) -> MaintenanceWindow:
    scope = WindowScope(
        clients=(f"client-{100 + i}",),
        device_globs=(f"maint-{i}-*",) if i % 2 else (),
    )
    if i % 2:
        start = BENCH_NOW + timedelta(hours=rng.randint(-48, 48))
        return MaintenanceWindow(
            id=f"win-{i:02d}",
            name=f"One-off {i}",
            starts_at=start,
            ends_at=start + timedelta(hours=rng.randint(1, 30)),
            scope=scope,
        )
    zone = rng.choice(("Europe/London", "America/New_York", "Australia/Sydney", "UTC"))
    byday = rng.choice(("SU", "SA,SU", "MO,TU,WE,TH,FR"))
    return MaintenanceWindow(
        id=f"win-{i:02d}",
        name=f"Recurring {i}",
        rrule=f"DTSTART:20240105T{rng.randrange(24):02d}0000\nRRULE:FREQ=WEEKLY;BYDAY={byday}",
        duration=timedelta(hours=rng.randint(1, 8)),
        time_zone=zone,
        scope=scope,
    )


def build_bench_setup(
    seed: int = 7,
) -> tuple[CompiledRuleSet, CompiledWindowSet, list[RoutableAlert]]:
    """200 rules, 50 windows and 64 varied alerts, deterministic for a seed."""
    rng = random.Random(seed)
    rules = RuleSet(
        tenant_id="bench",
        version=1,
        time_zone="Europe/London",
        rules=tuple(_rule(i, rng) for i in range(200)),
    )
    windows = compile_windows([_window(i, rng) for i in range(50)])
    alerts = [
        RoutableAlert(
            alert_id=f"a-{k}",
            tenant_id="bench",
            integration_id=f"int-{rng.randrange(10)}",
            provider=rng.choice(PROVIDERS),
            kind=rng.choice(("trigger", "trigger", "trigger", "reset")),
            series_key=f"s-{k}",
            condition=rng.choice(CONDITIONS),
            severity=rng.randint(1, 5),
            title=f"Alert {k} on host",
            message=f"Volume C: {rng.randrange(100)}% used; ticket kw{rng.randrange(200)}",
            device_id=f"dev-{rng.randrange(500)}",
            device_name=f"srv-{rng.randrange(40)}-{k}",
            client_id=f"client-{rng.randrange(80)}",
            client_name=f"Client {rng.randrange(80)}",
            site_id=f"site-{rng.randrange(120)}",
            labels={"team": f"team-{rng.randrange(12)}", "env": rng.choice(("prod", "dev"))},
            received_at=BENCH_NOW,
            occurred_at=BENCH_NOW - timedelta(minutes=rng.randrange(600)),
        )
        for k in range(64)
    ]
    return compile_rule_set(rules), windows, alerts


def bench_decisions(n: int, *, explain: bool = False) -> float:
    """Median seconds per `decide` over `n` decisions (`explain` also reads the explanation)."""
    rules, windows, alerts = build_bench_setup()
    timings: list[int] = []
    clock = time.perf_counter_ns
    for k in range(n + 200):
        alert = alerts[k % len(alerts)]
        now = BENCH_NOW + timedelta(seconds=k)
        started = clock()
        decision = decide(rules, windows, alert, now)
        if explain:
            len(decision.explanation)
        elapsed = clock() - started
        if k >= 200:
            timings.append(elapsed)
    return statistics.median(timings) / 1e9


def median_decision_seconds(decisions: int = 20_000, *, explain: bool = False) -> float:
    """Median seconds per decision for one alert against 200 rules and 50 windows."""
    return bench_decisions(decisions, explain=explain)


if __name__ == "__main__":
    for flag in (False, True):
        sys.stdout.write(f"explain={flag}: {bench_decisions(20_000, explain=flag) * 1e3:.4f} ms\n")
