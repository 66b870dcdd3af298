"""The benchmark report: a JSON file, a PNG plot and a short table.

Aims come from the issues and are printed beside the figures; nothing here asserts them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import replicas_report

AIMS = {
    "gateway_per_s": 5000.0,  # at 32 concurrent senders
    "gateway_p99_ms": 15.0,
    "mesh_alerts_per_s": 2000.0,
    "mesh_webhook_p99_ms": 25.0,
    "mesh_e2e_p99_ms": 500.0,
    "rules_median_ms": 0.2,
    "sla_lateness_p99_s": 1.0,
}


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write the full results."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**results, "aims": AIMS}, indent=2, default=str))


def _by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["scenario"]: s for s in results.get("scenarios", []) if "error" not in s}


# --- plot ----------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput against latency: gateway, mesh, and the per-service figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = _by_name(results)
    figure, axes = plt.subplots(1, 3, figsize=(17, 5.5))
    _plot_gateway(axes[0], scenarios.get("gateway"))
    _plot_mesh(axes[1], scenarios.get("mesh"))
    _plot_services(axes[2], scenarios)
    figure.suptitle("Triage on this machine: throughput vs latency (loopback, same run)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _series(axis: Any, points: list[tuple[float, float, str]], label: str, style: str) -> None:
    if not points:
        return
    axis.plot([p[0] for p in points], [p[1] for p in points], style, label=label)
    for x, y, text in points:
        axis.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)


def _finish(axis: Any, title: str, xlabel: str, ylabel: str) -> None:
    axis.set_title(title, fontsize=10)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=8, loc="best")
    else:
        axis.text(0.5, 0.5, "not run", ha="center", va="center", transform=axis.transAxes)


def _plot_gateway(axis: Any, scenario: dict[str, Any] | None) -> None:
    rows = scenario["rows"] if scenario else []
    for key, style in (("gateway", "o-"), ("floor", "s--")):
        points = [(r[key]["throughput"], r[key]["p99_ms"], f"c={r['concurrency']}") for r in rows]
        _series(axis, points, f"{key} p99", style)
    axis.axhline(AIMS["gateway_p99_ms"], color="grey", linestyle=":", linewidth=1)
    axis.axvline(AIMS["gateway_per_s"], color="grey", linestyle=":", linewidth=1)
    _finish(axis, "gateway: webhook -> durable 202 (dotted: aim)", "webhooks/s", "p99 ms")


def _plot_mesh(axis: Any, scenario: dict[str, Any] | None) -> None:
    rows = scenario["rows"] if scenario else []
    mesh = [(r["mesh"], r["label"]) for r in rows if r["mesh"] is not None]
    _series(
        axis, [(m["alerts_per_s"], m["p99_ms"], lbl) for m, lbl in mesh], "mesh webhook p99", "o-"
    )
    _series(
        axis,
        [(m["alerts_per_s"], m["e2e_p99_ms"], lbl) for m, lbl in mesh if m["ticketed"]],
        "mesh webhook -> ticket p99",
        "^-",
    )
    _series(
        axis,
        [(r["floor"]["throughput"], r["floor"]["p99_ms"], r["label"]) for r in rows],
        "floor webhook p99",
        "s--",
    )
    for aim, what in ((AIMS["mesh_webhook_p99_ms"], "webhook"), (AIMS["mesh_e2e_p99_ms"], "e2e")):
        axis.axhline(aim, color="grey", linestyle=":", linewidth=1)
        axis.annotate(
            f"aim {what} p99 {aim:.0f} ms",
            (0.99, aim),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=7,
            color="grey",
        )
    axis.axvline(AIMS["mesh_alerts_per_s"], color="grey", linestyle=":", linewidth=1)
    _finish(
        axis,
        "mesh: open-loop offered rate (labels), sustained alerts/s (dotted: aims)",
        "alerts/s (mesh: sustained webhook -> ticket; floor: requests/s)",
        "p99 ms",
    )


def _plot_services(axis: Any, scenarios: dict[str, dict[str, Any]]) -> None:
    rules = scenarios.get("rules")
    if rules:
        _series(axis, [(rules["decisions_per_s"], rules["median_ms"], "median")], "rules", "D")
    timers = scenarios.get("sla", {}).get("timers", {})
    if timers and "error" not in timers:
        _series(
            axis,
            [(timers["fires_per_s"], max(1e-3, timers["lateness_p99_s"] * 1000), "p99")],
            "sla timers (lateness)",
            "v",
        )
    notify = scenarios.get("notify")
    if notify:
        points = [
            (notify[k]["deliveries_per_s"], notify[k]["p99_ms"], f"{k} p99")
            for k in ("burst", "paced")
        ]
        _series(axis, points, "notify event -> delivered", "P")
    axis.set_xscale("log")
    _finish(axis, "per service", "operations/s", "latency ms")


# --- table ---------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    """A short plain-text table of the headline figures, with the aims beside them."""
    lines: list[str] = []
    for scenario in results.get("scenarios", []):
        name = scenario["scenario"]
        if "error" in scenario:
            lines.append(f"{name}: FAILED: {scenario['error']}")
            continue
        render = _TABLES.get(name)
        if render is not None:
            lines += render(scenario)
        else:
            lines.append(f"{name}: {json.dumps(scenario, default=str)[:300]}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _gateway(s: dict[str, Any]) -> list[str]:
    lines = [
        "gateway (webhook -> durable 202) vs floor (1 insert + 1 publish), closed loop",
        f"  {'conc':>5} {'gateway/s':>10} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'floor/s':>9} {'p99 ms':>7} {'ratio':>6}",
    ]
    for row in s["rows"]:
        g, f = row["gateway"], row["floor"]
        lines.append(
            f"  {row['concurrency']:>5} {g['throughput']:>10.0f} {g['p50_ms']:>7.1f}"
            f" {g['p99_ms']:>7.1f} {f['throughput']:>9.0f} {f['p99_ms']:>7.1f}"
            f" {row['throughput_ratio']:>6.2f}"
        )
    lines.append(
        f"  {'aim':>5} {'>=' + format(AIMS['gateway_per_s'], '.0f'):>10} {'':>7}"
        f" {'<=' + format(AIMS['gateway_p99_ms'], '.0f'):>7}   (at 32 senders)"
    )
    return lines


def _mesh(s: dict[str, Any]) -> list[str]:
    lines = [
        f"mesh (webhook -> ticket, {s['tenants']} tenants x {len(s['providers'])} providers,"
        f" open loop, {s['seconds_per_step']:.0f} s/step) vs floor, same requests and rate",
        f"  {'rate':>5} {'web/s':>6} {'alerts/s':>8} {'web p50':>7} {'web p99':>7}"
        f" {'e2e p50':>7} {'e2e p99':>7} {'ticketed':>11} {'drain s':>7}"
        f" {'floor/s':>7} {'fl p99':>6} {'x floor':>7}",
    ]
    for row in s["rows"]:
        m, f = row["mesh"], row["floor"]
        if m is None:
            lines.append(
                f"  {row['rate']:>5} {row['skipped']:<75} {f['throughput']:>7.0f}"
                f" {f['p99_ms']:>6.1f}"
            )
            continue
        lines.append(
            f"  {row['rate']:>5} {m['throughput']:>6.0f} {m['alerts_per_s']:>8.0f}"
            f" {m['p50_ms']:>7.1f} {m['p99_ms']:>7.1f} {m['e2e_p50_ms']:>7.0f}"
            f" {m['e2e_p99_ms']:>7.0f} {str(m['ticketed']) + '/' + str(m['triggers']):>11}"
            f" {m['drain_s']:>7.1f} {f['throughput']:>7.0f} {f['p99_ms']:>6.1f}"
            f" {row['throughput_ratio']:>7.2f}"
        )
    lines.append(
        f"  {'aim':>5} {'':>6} {'>=' + format(AIMS['mesh_alerts_per_s'], '.0f'):>8} {'':>7}"
        f" {'<=' + format(AIMS['mesh_webhook_p99_ms'], '.0f'):>7} {'':>7}"
        f" {'<=' + format(AIMS['mesh_e2e_p99_ms'], '.0f'):>7}"
    )
    lines.append(
        "  (ms; e2e = webhook due -> its ticket.opened/occurred seen on NATS; alerts/s ="
        " sustained, webhook to ticket;\n   x floor = alerts/s / floor/s; rates stop rising"
        " once the mesh falls behind)"
    )
    measured = [r for r in s["rows"] if r["mesh"] is not None]
    if measured:
        top = measured[-1]
        stages = top["mesh"]["stages"]
        lines.append(
            f"  stages at {top['label']}: "
            + ", ".join(f"{k} {v['per_s']:.0f}/s" for k, v in stages.items())
        )
        lines.append(f"  CPU cores / peak RSS MiB at {top['label']}:")
        lines.append("    mesh:  " + _usage(top["mesh"]["resources"]))
        lines.append("    floor: " + _usage(top["floor"].get("resources", {})))
    found = s.get("profile")
    if found and found.get("inclusive"):
        lines.append(
            f"  py-spy {found['service']} at the top rate ({found['samples']} samples,"
            f" {100 * found.get('idle_share', 0):.0f}% of them waiting in the selector),"
            " inclusive % by function:"
        )
        for func, share in found["inclusive"][:12]:
            lines.append(f"    {share:5.1f}%  {func}")
    elif found:
        lines.append(f"  py-spy: {found.get('error')}")
    return lines


def _usage(usage: dict[str, dict[str, float]]) -> str:
    text = ", ".join(
        f"{k} {v['cpu_cores']:.2f}/{v['peak_rss_mib']:.0f}"
        for k, v in usage.items()
        if k != "machine"
    )
    machine = usage.get("machine")
    if machine:
        text += (
            f"; machine busy {machine['cpu_cores']:.2f} of {machine['cores']:.0f} cores"
            f" (other work {machine['others_cpu_cores']:.2f})"
        )
    return text


def _rules(s: dict[str, Any]) -> list[str]:
    return [
        "rules (one alert vs 200 rules + 50 windows, in process)",
        f"  median {s['median_ms']:.3f} ms/decision = {s['decisions_per_s']:,.0f} decisions/s"
        f" (one core)   aim: median <= {AIMS['rules_median_ms']} ms",
    ]


def _sla(s: dict[str, Any]) -> list[str]:
    lines = ["sla"]
    ops = s.get("business_time", {})
    if "error" in ops:
        lines.append(f"  business time: unavailable ({ops['error']})")
    elif ops:
        lines.append(
            f"  add_business_time {ops['add_business_time_per_s']:,.0f}/s,"
            f" business_time_between {ops['business_time_between_per_s']:,.0f}/s"
        )
    timers = s.get("timers", {})
    if "error" in timers:
        lines.append(f"  timers: unavailable ({timers['error']})")
    elif timers:
        lines.append(
            f"  {timers['clocks']:,.0f} clocks, thresholds over 1 h (time x{timers['speed']:.0f}):"
            f" {timers['fired']:,.0f} fired, {timers['fires_per_s']:,.0f} fires/s"
            f" (demand {timers['demand_per_s']:,.0f}/s), lateness p50"
            f" {timers['lateness_p50_s']:.3f} s p99 {timers['lateness_p99_s']:.3f} s"
            f"   aim: p99 <= {AIMS['sla_lateness_p99_s']:.0f} s"
        )
    return lines


def _notify(s: dict[str, Any]) -> list[str]:
    b, p = s["burst"], s["paced"]
    return [
        "notify (ticket.opened on JetStream -> signed webhook POST at a local receiver)",
        f"  burst {b['events']:,.0f} events: {b['deliveries_per_s']:,.0f} deliveries/s,"
        f" delivered {b['delivered']:,.0f}, event->delivered p50 {b['p50_ms']:.0f} ms"
        f" p99 {b['p99_ms']:.0f} ms (backlog included)",
        f"  paced {p['rate']:.0f}/s: {p['deliveries_per_s']:,.0f} deliveries/s,"
        f" p50 {p['p50_ms']:.0f} ms p99 {p['p99_ms']:.0f} ms",
        "  CPU cores / peak RSS MiB: " + _usage(s.get("resources", {})),
    ]


_TABLES = {
    "gateway": _gateway,
    "mesh": _mesh,
    "rules": _rules,
    "sla": _sla,
    "notify": _notify,
    "replicas_ab": replicas_report.table,
}
