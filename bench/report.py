"""The benchmark report: a JSON file, a PNG plot and a short table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write the full results."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput against p99 latency, one curve per measured path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for scenario in results.get("scenarios", []):
        for series, points in _curves(scenario).items():
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            axis.plot(xs, ys, marker="o", label=series)
            for x, y, label in points:
                axis.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axis.set_xlabel("throughput (requests/s)")
    axis.set_ylabel("p99 latency (ms)")
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    axis.set_title("Triage on this machine: throughput vs p99 latency")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _curves(scenario: dict[str, Any]) -> dict[str, list[tuple[float, float, str]]]:
    curves: dict[str, list[tuple[float, float, str]]] = {}
    for row in scenario.get("rows", []):
        for key in ("floor", "gateway", "mesh"):
            if key in row and isinstance(row[key], dict) and "throughput" in row[key]:
                point = row[key]
                label = row.get("label") or f"c={row.get('concurrency', '')}"
                curves.setdefault(f"{scenario['scenario']}:{key}", []).append(
                    (point["throughput"], point["p99_ms"], label)
                )
    return curves


def table(results: dict[str, Any]) -> str:
    """A short plain-text table of the headline figures."""
    lines: list[str] = []
    for scenario in results.get("scenarios", []):
        name = scenario["scenario"]
        if name == "gateway":
            lines.append("gateway (webhook -> durable 202) vs floor (1 insert + 1 publish)")
            lines.append(
                f"  {'conc':>5} {'gateway/s':>10} {'p50 ms':>7} {'p99 ms':>7}"
                f" {'floor/s':>9} {'p99 ms':>7} {'ratio':>6}"
            )
            for row in scenario["rows"]:
                g, f = row["gateway"], row["floor"]
                lines.append(
                    f"  {row['concurrency']:>5} {g['throughput']:>10.0f} {g['p50_ms']:>7.1f}"
                    f" {g['p99_ms']:>7.1f} {f['throughput']:>9.0f} {f['p99_ms']:>7.1f}"
                    f" {row['throughput_ratio']:>6.2f}"
                )
        else:
            lines.append(f"{name}:")
            for key, value in scenario.items():
                if key not in ("scenario", "rows"):
                    lines.append(f"  {key}: {value}")
            for row in scenario.get("rows", []):
                lines.append("  " + json.dumps(row, default=str)[:200])
    return "\n".join(lines)
