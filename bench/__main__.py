"""``make bench``: throughput and latency, printed as ratios against a floor from the same run.

Scenarios (``--scenarios``, all by default): ``rules`` and the business-time half of
``sla`` are in-process CPU measurements; ``gateway`` gets a stack of its own with only
ingest running; ``mesh``, ``notify`` and the timer half of ``sla`` share a stack with all
five services; ``replicas_ab`` starts two meshes of its own, the baseline commit's (see
``bench.replicas_ab``) and this tree's, and alternates paired steps between them.
Everything runs on loopback, bounded in count and time, and stops what it
started. ``--quick`` is a smoke run (about three minutes and a half, of which
``replicas_ab`` takes close to two); the full run's ``replicas_ab`` takes 8-11 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import gateway, mesh, replicas_ab, report
from bench.harness import (
    ProcessSampler,
    register_tenant,
    server_pids,
    service_pids,
    tenant_metadata,
    wait_ready,
)
from triage.devstack._util import free_port
from triage.devstack.endpoints import Ports
from triage.devstack.stack import Stack, start_stack, wait_healthy

OUT = Path(__file__).resolve().parent / "out"
ALL = ("gateway", "mesh", "rules", "sla", "notify", "replicas_ab")


async def _guarded(
    name: str, results: dict[str, Any], run: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    """Run one scenario; a failure is reported in its place and the others still run."""
    began = time.monotonic()
    print(f"-- {name}", file=sys.stderr, flush=True)
    try:
        outcome = await run()
    except Exception as exc:  # a broken scenario must not hide the others' figures
        traceback.print_exc()
        outcome = {"scenario": name, "error": f"{type(exc).__name__}: {exc}"}
    outcome["wall_seconds"] = time.monotonic() - began
    results["scenarios"].append(outcome)


async def rules_scenario(quick: bool) -> dict[str, Any]:
    """Median decision time: one alert against 200 rules and 50 windows."""
    from bench.rules_decisions import median_decision_seconds

    decisions = 5_000 if quick else 20_000
    median = await asyncio.to_thread(median_decision_seconds, decisions)
    return {
        "scenario": "rules",
        "decisions": decisions,
        "median_ms": median * 1000,
        "decisions_per_s": 1 / median if median else 0.0,
    }


def _sla_module() -> Any:
    """``services.sla.bench`` if it imports (another engineer may still be writing it)."""
    from bench import sla_clocks as sla_bench

    return sla_bench


async def sla_ops(quick: bool) -> dict[str, Any]:
    """Business-time operations/s (pure CPU)."""
    sla_bench = _sla_module()
    ops: dict[str, float] = await asyncio.to_thread(
        sla_bench.business_time_ops, 5_000 if quick else 20_000
    )
    return ops


async def sla_timers(stack: Stack, quick: bool) -> dict[str, Any]:
    """Many running clocks with thresholds spread over an hour, in an empty database."""
    import psycopg
    from sqlalchemy.engine import make_url

    sla_bench = _sla_module()
    url = make_url(stack.database_url)
    name = f"sla_bench_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    clocks = 5_000 if quick else 100_000
    speed = 1200.0 if quick else 60.0
    figures: dict[str, Any] = await sla_bench.timer_bench(
        url.set(database=name).render_as_string(False),
        clocks=clocks,
        speed=speed,
        timeout_seconds=60 if quick else 150,
    )
    figures["speed"] = speed
    return figures


async def sla_scenario(stack: Stack | None, quick: bool) -> dict[str, Any]:
    """Both halves of the SLA figures, each reported even if the other fails."""
    out: dict[str, Any] = {"scenario": "sla"}
    try:
        out["business_time"] = await sla_ops(quick)
    except Exception as exc:
        out["business_time"] = {"error": f"{type(exc).__name__}: {exc}"}
    if stack is not None:
        try:
            out["timers"] = await sla_timers(stack, quick)
        except Exception as exc:
            traceback.print_exc()
            out["timers"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


async def notify_scenario(stack: Stack, quick: bool) -> dict[str, Any]:
    """Deliveries/s to a local webhook receiver and event -> delivered latency."""
    from bench.notify_delivery import delivery_bench

    tenant_id = await register_tenant(stack)
    sampler = ProcessSampler({**service_pids(stack, ("notify", "sla")), **server_pids(stack)})
    sampling = asyncio.create_task(sampler.run())
    try:
        figures = await delivery_bench(
            grpc_address=stack.endpoints.grpc["notify"],
            nats_url=stack.nats_url,
            tenant_id=tenant_id,
            metadata=tenant_metadata(stack, tenant_id),
            port=free_port(),
            events=200 if quick else 1_000,
            timeout=60.0 if quick else 90.0,
            paced_rate=100.0 if quick else 200.0,
            paced_seconds=2.0 if quick else 8.0,
        )
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    # sla also consumes ticket.opened (it starts clocks), so it is watched too.
    return {"scenario": "notify", **figures, "resources": sampler.result()}


async def main(argv: list[str]) -> int:
    """Run the selected scenarios and write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke run)")
    parser.add_argument(
        "--scenarios", default=",".join(ALL), help=f"comma-separated, of: {','.join(ALL)}"
    )
    parser.add_argument(
        "--profile",
        default=os.environ.get("TRIAGE_BENCH_PROFILE_MESH") or None,
        help="py-spy a service during the mesh's top rate: a service name or 'auto'",
    )
    parser.add_argument(
        "--rates",
        type=lambda v: tuple(int(r) for r in v.split(",") if r.strip()),
        default=None,
        help="the mesh's offered rates, comma-separated (default 250,500,1000,2000)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(scenarios) - set(ALL))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    results: dict[str, Any] = {"started": time.time(), "quick": args.quick, "scenarios": []}
    quick = args.quick

    if "rules" in scenarios:
        await _guarded("rules", results, lambda: rules_scenario(quick))

    if "gateway" in scenarios:
        with tempfile.TemporaryDirectory(prefix="triage-bench-") as data:
            async with start_stack(
                Path(data), services=False, seed=False, ports=Ports.free(), output=sys.stderr
            ) as stack:
                await stack.start_services(("ingest",))
                await wait_ready(stack.endpoints.http + "/readyz")
                await _guarded("gateway", results, lambda: gateway.run(stack, quick=quick))

    meshy = [s for s in ("mesh", "notify") if s in scenarios]
    if meshy or "sla" in scenarios:
        with tempfile.TemporaryDirectory(prefix="triage-bench-") as data:
            async with start_stack(
                Path(data), services=False, seed=False, ports=Ports.free(), output=sys.stderr
            ) as stack:
                if meshy:
                    await stack.start_services()
                    await wait_healthy(stack.endpoints, supervisor=stack.supervisor)
                    await wait_ready(stack.endpoints.http + "/readyz")
                if "mesh" in scenarios:
                    await _guarded(
                        "mesh",
                        results,
                        lambda: mesh.run(
                            stack,
                            quick=quick,
                            profile=args.profile,
                            out_dir=args.out,
                            rates=args.rates,
                        ),
                    )
                if "notify" in scenarios:
                    await _guarded("notify", results, lambda: notify_scenario(stack, quick))
                if "sla" in scenarios:
                    await _guarded("sla", results, lambda: sla_scenario(stack, quick))

    if "replicas_ab" in scenarios:
        await _guarded(
            "replicas_ab", results, lambda: replicas_ab.run(quick=quick, out_dir=args.out)
        )

    results["finished"] = time.time()
    report.write_json(results, args.out / "report.json")
    report.plot(results, args.out / "plot.png")
    print(report.table(results))
    print(f"\nreport: {args.out / 'report.json'}\nplot:   {args.out / 'plot.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
