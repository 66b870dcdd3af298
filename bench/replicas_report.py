"""Summary and table of the before/after scenario (:mod:`bench.replicas_ab`).

Each step is one code version at one offered rate; steps of both versions at the same
rate and round form a pair, run back to back, so a ratio inside a pair sees the same
machine. The headline is the median of the paired ratios after/before.
"""

from __future__ import annotations

import statistics
from typing import Any

CPU_BUDGET = 1.05
"""The partitioned design may cost at most 5 % more CPU per alert at one replica."""
FIGURES = (
    "cpu_ms_per_alert",
    "alerts_per_s",
    "p99_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "others_cpu_cores",
)
SIDES = ("before", "after")


def _pairs(steps: list[dict[str, Any]], rate: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for step in steps:
        if step["rate"] == rate:
            by_round.setdefault(step["round"], {})[step["side"]] = step
    return [(r["before"], r["after"]) for _, r in sorted(by_round.items()) if len(r) == 2]


def summarize(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per offered rate: each side's medians and the paired after/before ratios."""
    rates = sorted({int(s["rate"]) for s in steps})
    out: dict[str, Any] = {}
    for rate in rates:
        pairs = _pairs(steps, rate)
        if not pairs:
            continue
        row: dict[str, Any] = {"pairs": len(pairs)}
        for index, side in enumerate(SIDES):
            row[side] = {k: statistics.median(float(p[index][k]) for p in pairs) for k in FIGURES}
        ratios: dict[str, list[float]] = {}
        for key in ("cpu_ms_per_alert", "alerts_per_s", "e2e_p99_ms"):
            ratios[key] = [a[key] / b[key] for b, a in pairs if b[key]]
        row["cpu_ratios"] = ratios["cpu_ms_per_alert"]
        row["cpu_ratio_median"] = statistics.median(ratios["cpu_ms_per_alert"])
        row["alerts_per_s_ratio_median"] = statistics.median(ratios["alerts_per_s"])
        row["e2e_p99_ratio_median"] = statistics.median(ratios["e2e_p99_ms"])
        row["cpu_within_budget"] = row["cpu_ratio_median"] <= CPU_BUDGET
        out[str(rate)] = row
    return out


def table(s: dict[str, Any]) -> list[str]:
    """The scenario's lines in ``make bench``'s table."""
    if "skipped" in s:
        return [f"replicas_ab: skipped: {s['skipped']}"]
    before, after = s["before"], s["after"]
    lines = [
        "replicas_ab (mesh at 1 replica each, before vs after, paired steps in one run)",
        f"  before {before['ref']} ({before['commit'][:10]}), after {after['ref']}"
        f" ({after['commit'][:10]}{', with uncommitted changes' if after.get('dirty') else ''})",
        "  idle CPU cores (mesh + PostgreSQL + NATS): "
        + ", ".join(f"{side} {s['idle'][side]['cpu_cores']:.3f}" for side in SIDES),
    ]
    for rate, row in s["summary"].items():
        b, a = row["before"], row["after"]
        verdict = "within" if row["cpu_within_budget"] else "OVER"
        lines += [
            f"  {rate}/s offered, {row['pairs']} pairs (medians): CPU per alert"
            f" {b['cpu_ms_per_alert']:.2f} -> {a['cpu_ms_per_alert']:.2f} ms,"
            f" paired ratio {row['cpu_ratio_median']:.3f}"
            f" ({', '.join(f'{r:.3f}' for r in row['cpu_ratios'])}; {verdict} +5 %)",
            f"    alerts/s {b['alerts_per_s']:.0f} -> {a['alerts_per_s']:.0f},"
            f" webhook p99 {b['p99_ms']:.1f} -> {a['p99_ms']:.1f} ms,"
            f" webhook -> ticket p99 {b['e2e_p99_ms']:.0f} -> {a['e2e_p99_ms']:.0f} ms;"
            f" others' CPU {b['others_cpu_cores']:.2f} / {a['others_cpu_cores']:.2f} cores",
        ]
    return lines
