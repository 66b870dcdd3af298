"""Before/after of the partitioned consumers (issue 13), the mesh at 1 replica each, one run.

``python -m bench.replicas_ab [--baseline REF] [--after REF] [--rounds 3] [--seconds 10]``
checks the baseline (default ``35d19b3``: shared durable pull consumers, no partitions; or
``TRIAGE_BENCH_BASELINE_REF``) out into a temporary ``git worktree`` and starts two
meshes side by side, each with its own PostgreSQL, NATS, data and ports: the baseline's
services run from the worktree (its migrations, its streams), the other's from this
checkout (or from ``--after REF`` / ``TRIAGE_BENCH_AFTER_REF`` in a second worktree).
Then it sends the mesh bench's mixed workload to one mesh at a time, in pairs of steps at
the same offered rate, back to back, alternating which version goes first, so the host's
drift (20-30 % between runs here) cancels inside each pair.

Per step: CPU per alert across every process of the mesh (the five services, the
PostgreSQL postmaster with its backends, nats-server; from the load's start until the
mesh went quiet after it, divided by the alerts accepted), alerts/s through to tickets,
webhook p99 and webhook -> ticket p50/p99 (as in :mod:`bench.mesh`). The top rate is
above what the mesh sustains on 2 cores, so its alerts/s is the sustained throughput; its
steps last half as long (the backlog then drains for as long again).
The idle mesh's CPU is watched too, so ``others_cpu_cores`` is the rest of the machine.
Without git or the ref (a tarball checkout), the scenario is skipped with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bench import baseline, mesh, replicas_report
from bench.harness import (
    ProcessSampler,
    run_load_async,
    seed_routed_targets,
    server_pids,
    service_pids,
    wait_ready,
)
from bench.workload import Target, mixed_requests
from triage.devstack.endpoints import Ports
from triage.devstack.stack import Stack, start_stack, wait_healthy
from triage.mesh import SERVICE_NAMES
from triage.runtime.config import Settings

BASELINE_REF = os.environ.get("TRIAGE_BENCH_BASELINE_REF", "35d19b3")
AFTER_REF = os.environ.get("TRIAGE_BENCH_AFTER_REF", "")
"""Empty: this checkout's working tree."""
RATES = (250, 500, 1000)
TAIL_QUIET = 1.0
"""A step ends once every accepted trigger has its ticket and no event of any domain
arrived for this long, or none arrived for :data:`GIVE_UP_QUIET` (a trigger a reset
superseded never gets one). CPU is counted up to the last event, so the wait costs none."""
GIVE_UP_QUIET = 3.0
CPU_EVERY = 0.1
"""Seconds between CPU readings of the loaded mesh."""
STEP_LIMIT = 90.0
"""At most this long after a step's load for its backlog."""
IDLE_SECONDS = 5.0
MESH = ("postgres", "nats", *SERVICE_NAMES)
OUT = Path(__file__).resolve().parent / "out"


@dataclass
class Side:
    """One code version's running mesh and what the bench knows about it."""

    label: str
    checkout: baseline.Checkout
    stack: Stack
    watcher: mesh.Watcher
    nc: NatsClient | None = None
    targets: list[Target] | None = None
    offset: int = 0

    def pids(self) -> dict[str, int]:
        """Every process of this mesh: services and servers."""
        return {**service_pids(self.stack, SERVICE_NAMES), **server_pids(self.stack)}


@asynccontextmanager
async def _mesh(label: str, checkout: baseline.Checkout, log: TextIO) -> AsyncIterator[Side]:
    """``checkout``'s five services on a fresh PostgreSQL and NATS, healthy and ready."""
    with tempfile.TemporaryDirectory(prefix=f"triage-ab-{label}-") as data:
        async with start_stack(
            Path(data),
            services=False,
            seed=False,
            ports=Ports.free(),
            output=log,
            cwd=checkout.path,
        ) as stack:
            await stack.start_services()
            await wait_healthy(stack.endpoints, supervisor=stack.supervisor)
            await wait_ready(stack.endpoints.http + "/readyz")
            yield Side(label, checkout, stack, mesh.Watcher())


@contextlib.contextmanager
def _checkouts(baseline_ref: str, after_ref: str) -> Iterator[dict[str, baseline.Checkout]]:
    with contextlib.ExitStack() as stack:
        before = stack.enter_context(baseline.worktree(baseline_ref))
        after = stack.enter_context(baseline.worktree(after_ref)) if after_ref else None
        yield {"before": before, "after": after or baseline.working_tree()}


async def _watch(side: Side) -> None:
    """Subscribe to the mesh's events: tickets and alerts in detail, any event for quiet."""
    watcher = side.watcher

    async def any_event(msg: Msg) -> None:
        watcher.last_any = time.time()

    side.nc = await nats.connect(side.stack.nats_url, name=f"bench-ab-{side.label}")
    await watcher.subscribe(side.nc)
    for domain in ("sla", "notify"):
        await side.nc.subscribe(f"triage.{domain}.>", cb=any_event)


async def _quiet(
    watcher: mesh.Watcher, pending: set[str], *, since: float, limit: float = STEP_LIMIT
) -> None:
    """Until the mesh is done with a load that ended at ``since`` (see :data:`TAIL_QUIET`)."""
    while True:
        await asyncio.sleep(0.05)
        now = time.time()
        quiet = now - max(watcher.last_any, since)
        done = pending.issubset(watcher.effects.keys())
        if (done and quiet >= TAIL_QUIET) or quiet >= GIVE_UP_QUIET or now - since >= limit:
            return


async def _trace(sampler: ProcessSampler, into: list[tuple[float, dict[str, float]]]) -> None:
    """Read every process's CPU seconds each :data:`CPU_EVERY` s until cancelled."""
    while True:
        into.append((time.time(), await asyncio.to_thread(sampler.cpu_seconds)))
        await asyncio.sleep(CPU_EVERY)


def _at(
    trace: list[tuple[float, dict[str, float]]], instant: float
) -> tuple[float, dict[str, float]]:
    """The first reading at or after ``instant`` (the last one if none)."""
    return next((r for r in trace if r[0] >= instant), trace[-1])


async def _send(
    side: Side, rate: int, seconds: float, seed: int, *, sampler: ProcessSampler | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One open-loop load at ``rate`` to ``side``'s gateway, waited out until quiet."""
    assert side.targets is not None
    count = int(rate * seconds)
    requests = mixed_requests(side.targets, count, seed=seed, offset=side.offset)
    side.offset += count
    side.watcher.reset()
    load = await run_load_async(
        side.stack.endpoints.http,
        requests,
        concurrency=mesh.SENDERS,
        count=count,
        seconds=seconds,
        rate=rate,
        sampler=sampler,
    )
    load["load_end"] = time.time()
    triggers = {a[1] for a in load["accepted"] if requests[a[2]]["kind"] == "trigger"}
    await _quiet(side.watcher, triggers, since=load["load_end"])
    return load, requests


async def step(side: Side, idle: Side, *, rate: int, seconds: float, seed: int) -> dict[str, Any]:
    """Load ``side`` at ``rate``; its CPU per alert, throughput and latencies."""
    # Work left over from this side's previous step (a late redelivery) is not this step's.
    await _quiet(side.watcher, set(), since=time.time())
    sampler = ProcessSampler(
        {
            **side.pids(),
            **{f"idle {k}": v for k, v in idle.pids().items()},
            "bench": os.getpid(),
        },
        trees=frozenset({"postgres", "idle postgres"}),
    )
    trace: list[tuple[float, dict[str, float]]] = []
    began = time.time()
    sampling = asyncio.gather(sampler.run(), _trace(sampler, trace))
    try:
        load, requests = await _send(side, rate, seconds, seed, sampler=sampler)
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    trace.append((time.time(), sampler.cpu_seconds()))
    usage = sampler.result()
    # Up to the mesh's last event: the quiet wait after it is not the load's cost.
    ended, cpu = _at(trace, side.watcher.last_any)
    window = max(1e-3, ended - began)
    drained = side.watcher.last.get("ticket", load["load_end"]) - load["load_end"]
    figures = mesh.mesh_figures(load, requests, side.watcher, max(0.0, drained))
    alerts = max(1, figures["accepted_alerts"])
    mesh_cpu = {k: cpu.get(k, 0.0) for k in MESH}
    return {
        "side": side.label,
        "rate": rate,
        "offered": int(rate * seconds),
        **figures,
        "cpu_ms_per_alert": sum(mesh_cpu.values()) * 1000 / alerts,
        "cpu_ms_per_alert_by_process": {k: v * 1000 / alerts for k, v in mesh_cpu.items()},
        "window_s": window,
        "mesh_cpu_cores": sum(mesh_cpu.values()) / window,
        "idle_mesh_cpu_cores": sum(v for k, v in cpu.items() if k.startswith("idle ")) / window,
        "machine_cpu_cores": usage["machine"]["cpu_cores"],
        "others_cpu_cores": usage["machine"]["others_cpu_cores"],
    }


async def _idle_cpu(side: Side, seconds: float) -> dict[str, float]:
    """CPU cores the mesh uses with no load at all."""
    sampler = ProcessSampler(side.pids())
    await asyncio.sleep(seconds)
    cpu = sampler.cpu_seconds()
    return {"cpu_cores": sum(cpu.values()) / seconds, **{k: v / seconds for k, v in cpu.items()}}


async def _prepare(side: Side, quick: bool) -> None:
    side.targets = await seed_routed_targets(
        side.stack, tenants=mesh.TENANTS, providers=mesh.PROVIDERS
    )
    await _watch(side)
    # Warm up: rule sets and tenant caches loaded, pools and consumers busy once.
    await _send(side, 150, 1.0 if quick else 2.0, seed=1)


def _progress(row: dict[str, Any], r: int) -> None:
    print(
        f"round {r} {row['side']:>6} {row['rate']:5d}/s: {row['cpu_ms_per_alert']:5.2f} CPU ms"
        f"/alert, {row['alerts_per_s']:5.0f} alerts/s, webhook p99 {row['p99_ms']:6.1f} ms,"
        f" webhook->ticket p99 {row['e2e_p99_ms']:6.0f} ms, ticketed {row['ticketed']}/"
        f"{row['triggers']}, others {row['others_cpu_cores']:.2f} cores"
        + ("" if replicas_report.valid(row) else " (INCOMPLETE: not counted)"),
        file=sys.stderr,
        flush=True,
    )


async def compare(
    sides: dict[str, Side], *, rounds: int, rates: tuple[int, ...], seconds: float, quick: bool
) -> dict[str, Any]:
    """Paired steps at each rate, alternating which side goes first; the figures."""
    for side in sides.values():
        await _prepare(side, quick)
    idle_seconds = IDLE_SECONDS / 3 if quick else IDLE_SECONDS
    idle = {label: await _idle_cpu(side, idle_seconds) for label, side in sides.items()}
    steps: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    for r in range(rounds):
        for i, rate in enumerate(rates):
            order = ("before", "after") if (r + i) % 2 == 0 else ("after", "before")
            for label in order:
                other = sides["after" if label == "before" else "before"]
                row = await step(
                    sides[label],
                    other,
                    rate=rate,
                    seconds=seconds / 2 if rate == max(rates) and len(rates) > 1 else seconds,
                    seed=100 + 10 * r + i,
                )
                row["round"] = r
                steps.append(row)
                _progress(row, r)
    return {
        "idle": idle,
        "steps": steps,
        "summary": replicas_report.summarize(steps, idle),
        "loadavg": {"before": load_before, "after": os.getloadavg()},
    }


async def run(
    *,
    quick: bool,
    out_dir: Path = OUT,
    baseline_ref: str = BASELINE_REF,
    after_ref: str = AFTER_REF,
    rounds: int | None = None,
    seconds: float | None = None,
    rates: tuple[int, ...] = RATES,
) -> dict[str, Any]:
    """The scenario for ``make bench``: skipped, with the reason, if the baseline is missing."""
    rounds = rounds or (1 if quick else 3)
    seconds = seconds or (3.0 if quick else 10.0)
    result: dict[str, Any] = {
        "scenario": "replicas_ab",
        "rates": list(rates),
        "rounds": rounds,
        "seconds_per_step": seconds,
        "partitions": int(
            os.environ.get("TRIAGE_PARTITIONS") or Settings.model_fields["partitions"].default
        ),
        "method": __doc__,
    }
    try:
        for ref in (baseline_ref, after_ref):
            if ref:
                baseline.resolve(ref)
    except baseline.BaselineUnavailable as exc:
        reason = f"baseline {baseline_ref!r} unavailable: {exc}"
        print(f"replicas_ab skipped: {reason}", file=sys.stderr, flush=True)
        return {**result, "skipped": reason}
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    with (
        _checkouts(baseline_ref, after_ref) as checkouts,
        (out_dir / "replicas_ab-services.log").open("w") as log,
    ):
        for label, checkout in checkouts.items():
            result[label] = {
                "ref": checkout.ref,
                "commit": checkout.commit,
                "dirty": checkout.dirty,
            }
        async with contextlib.AsyncExitStack() as meshes:
            sides = {
                label: await meshes.enter_async_context(_mesh(label, checkout, log))
                for label, checkout in checkouts.items()
            }
            try:
                result |= await compare(
                    sides, rounds=rounds, rates=rates, seconds=seconds, quick=quick
                )
            finally:
                for side in sides.values():
                    if side.nc is not None:
                        await side.nc.close()
    return result


async def main(argv: list[str]) -> int:
    """Run the scenario alone; print its table and write ``replicas_ab.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.replicas_ab")
    parser.add_argument("--baseline", default=BASELINE_REF, help="the 'before' git ref")
    parser.add_argument("--after", default=AFTER_REF, help="the 'after' ref (default: this tree)")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of steps per rate")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load per step")
    parser.add_argument(
        "--rates",
        type=lambda v: tuple(int(r) for r in v.split(",") if r.strip()),
        default=RATES,
        help="offered rates, comma-separated (default 250,500,1000)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    started = time.time()
    result = await run(
        quick=False,
        out_dir=args.out,
        baseline_ref=args.baseline,
        after_ref=args.after,
        rounds=args.rounds,
        seconds=args.seconds,
        rates=args.rates,
    )
    result["started"], result["finished"] = started, time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replicas_ab.json").write_text(json.dumps(result, indent=2, default=str))
    print("\n".join(replicas_report.table(result)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
