"""Summary and table of the before/after scenario (:mod:`bench.replicas_ab`).

Each step is one code version at one offered rate; steps of both versions at the same
rate and round form a pair, run back to back, so a ratio inside a pair sees the same
machine. The headline is the median of the paired ratios after/before. A pair counts
only if both steps got their load through and ticketed it: a load generator starved by
the rest of the machine sends fewer alerts (the fixed background cost then weighs on
fewer of them), a mesh that stalls does less work for the same alerts, and its next step
then does the rest (more alerts routed than it was sent).

``python -m bench.replicas_report bench/out/replicas_ab.json`` prints a saved run again.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

CPU_BUDGET = 1.05
"""The partitioned design may cost at most 5 % more CPU per alert at one replica."""
DELIVERED = 0.95
"""A step counts if at least this share of its offered webhooks was accepted."""
TICKETED = 0.98
"""... and at least this share of its accepted triggers reached a ticket before the mesh
went quiet (the baseline leaves ~0.5 % unticketed: triggers reordered behind a reset)."""
FIGURES = (
    "cpu_ms_per_alert",
    "cpu_ms_per_alert_above_idle",
    "alerts_per_s",
    "p99_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "window_s",
    "others_cpu_cores",
)
RATIOS = ("cpu_ms_per_alert", "cpu_ms_per_alert_above_idle", "alerts_per_s", "e2e_p99_ms")
SIDES = ("before", "after")
LEFTOVER = 1.02
"""A step did another step's work if it routed or ticketed more than this share of its own."""
_EFFECTS = ("opened", "occurred", "reopened")


def _offered(step: dict[str, Any]) -> int:
    fallback = step["accepted_alerts"] + step.get("dropped", 0) + step.get("errors", 0)
    return int(step.get("offered", fallback))


def _complete(step: dict[str, Any], idle: dict[str, dict[str, float]]) -> dict[str, Any]:
    """``step`` with its CPU per alert above the mesh's idle use (the load's own cost)."""
    alerts = max(1, step["accepted_alerts"])
    idle_cores = idle.get(step["side"], {}).get("cpu_cores", 0.0)
    above = (step["mesh_cpu_cores"] - idle_cores) * step["window_s"] * 1000 / alerts
    return {**step, "cpu_ms_per_alert_above_idle": above}


def valid(step: dict[str, Any]) -> bool:
    """Whether ``step`` got its load through and ticketed it (see the module's text)."""
    delivered = step["accepted_alerts"] >= DELIVERED * _offered(step)
    ticketed = step["ticketed"] >= TICKETED * step["triggers"]
    # More alerts routed or tickets touched than sent: work a stalled earlier step left
    # came due in this one.
    routed = step.get("stages", {}).get("alert.routed", {}).get("events", 0)
    effects = sum(step.get("ticket_events", {}).get(f"ticket.{k}", 0) for k in _EFFECTS)
    own_work = (
        routed <= LEFTOVER * step["accepted_alerts"] and effects <= LEFTOVER * step["triggers"]
    )
    return bool(delivered and ticketed and own_work)


def summarize(
    steps: list[dict[str, Any]], idle: dict[str, dict[str, float]] | None = None
) -> dict[str, Any]:
    """Per offered rate: each side's medians over valid pairs and the paired ratios."""
    idle = idle or {}
    out: dict[str, Any] = {}
    for rate in sorted({int(s["rate"]) for s in steps}):
        by_round: dict[int, dict[str, dict[str, Any]]] = {}
        for step in steps:
            if step["rate"] == rate:
                by_round.setdefault(step["round"], {})[step["side"]] = _complete(step, idle)
        full = [r for _, r in sorted(by_round.items()) if len(r) == 2]
        pairs = [
            (r["before"], r["after"]) for r in full if valid(r["before"]) and valid(r["after"])
        ]
        row: dict[str, Any] = {"pairs": len(pairs), "excluded_pairs": len(full) - len(pairs)}
        if not pairs:
            out[str(rate)] = row
            continue
        for index, side in enumerate(SIDES):
            row[side] = {k: statistics.median(float(p[index][k]) for p in pairs) for k in FIGURES}
        for key in RATIOS:
            ratios = [a[key] / b[key] for b, a in pairs if b[key]]
            row[f"{key}_ratios"] = ratios
            row[f"{key}_ratio_median"] = statistics.median(ratios) if ratios else 0.0
        row["cpu_within_budget"] = row["cpu_ms_per_alert_ratio_median"] <= CPU_BUDGET
        out[str(rate)] = row
    return out


def _ratios(row: dict[str, Any], key: str) -> str:
    return (
        f"{row[f'{key}_ratio_median']:.3f} ({', '.join(f'{r:.2f}' for r in row[f'{key}_ratios'])})"
    )


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
        if not row["pairs"]:
            lines.append(f"  {rate}/s offered: no valid pair ({row['excluded_pairs']} excluded)")
            continue
        b, a = row["before"], row["after"]
        verdict = "within" if row["cpu_within_budget"] else "OVER"
        lines += [
            f"  {rate}/s offered, {row['pairs']} pairs ({row['excluded_pairs']} excluded),"
            f" medians before -> after:",
            f"    CPU per alert {b['cpu_ms_per_alert']:.2f} -> {a['cpu_ms_per_alert']:.2f} ms,"
            f" paired ratio {_ratios(row, 'cpu_ms_per_alert')}: {verdict} +5 %",
            f"    above idle {b['cpu_ms_per_alert_above_idle']:.2f} ->"
            f" {a['cpu_ms_per_alert_above_idle']:.2f} ms,"
            f" ratio {_ratios(row, 'cpu_ms_per_alert_above_idle')}",
            f"    alerts/s {b['alerts_per_s']:.0f} -> {a['alerts_per_s']:.0f},"
            f" webhook p99 {b['p99_ms']:.1f} -> {a['p99_ms']:.1f} ms,"
            f" webhook -> ticket p50 {b['e2e_p50_ms']:.0f} -> {a['e2e_p50_ms']:.0f} ms,"
            f" p99 {b['e2e_p99_ms']:.0f} -> {a['e2e_p99_ms']:.0f} ms",
            f"    others' CPU {b['others_cpu_cores']:.2f} / {a['others_cpu_cores']:.2f} cores",
        ]
    return lines


def main(argv: list[str]) -> int:
    """Summarize a saved ``replicas_ab.json`` again and print its table."""
    result = json.loads(Path(argv[0]).read_text())
    result["summary"] = summarize(result["steps"], result.get("idle"))
    print("\n".join(table(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
