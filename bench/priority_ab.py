"""Paired A/B of the consumers' CPU priority, inside one mesh run.

``python -m bench.priority_ab [--nice 5] [--rate 250] [--steps 10] [--seconds 8]`` starts the
mesh once and sends steps of the bench's mixed workload, alternating the consumers (rules,
tickets, sla, notify) between niceness 0 and ``--nice``: their own and their scheduler
autogroup's (see ``triage.runtime.priority``; changing a running process's needs root).
Each pair of steps meets the same machine, so the host's drift, which moves every figure by
20-30 % between runs here, cancels out. Prints each step and the medians per setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nats

from bench import mesh
from bench.harness import run_load_async, running_mesh, seed_routed_targets
from bench.workload import mixed_requests
from triage.devstack.stack import Stack

CONSUMERS = ("rules", "tickets", "sla", "notify")
FIGURES = ("alerts_per_s", "p50_ms", "p99_ms", "e2e_p50_ms", "e2e_p99_ms")


def set_consumers_niceness(stack: Stack, niceness: int, services: Sequence[str]) -> None:
    """Set each of ``services``' niceness and its autogroup's (each leads its session)."""
    for name in services:
        pid = stack.supervisor.pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        Path(f"/proc/{pid}/autogroup").write_text(f"{niceness}\n")
        os.setpriority(os.PRIO_PROCESS, pid, niceness)


async def compare(
    stack: Stack,
    *,
    nice: int,
    rate: int,
    steps: int,
    seconds: float,
    services: Sequence[str] = CONSUMERS,
) -> None:
    """Alternate steps at niceness 0 and ``nice``; print each step and the medians."""
    targets = await seed_routed_targets(stack, tenants=mesh.TENANTS, providers=mesh.PROVIDERS)
    nc = await nats.connect(stack.nats_url, name="bench-priority-ab")
    watcher = mesh.Watcher()
    await watcher.subscribe(nc)
    gateway = stack.endpoints.http
    warm = mixed_requests(targets, 300, seed=1)
    await run_load_async(gateway, warm, concurrency=8, count=len(warm), seconds=10, rate=150)
    offset = len(warm)
    results: dict[int, list[dict[str, float]]] = {0: [], nice: []}
    try:
        for step in range(steps):
            niceness = nice if step % 2 else 0
            set_consumers_niceness(stack, niceness, services)
            await mesh.drain(watcher, set(), load_end=time.time())
            count = int(rate * seconds)
            requests = mixed_requests(targets, count, seed=100 + step, offset=offset)
            offset += count
            watcher.reset()
            load, _, drained = await mesh.sampled(
                {}, gateway, requests, rate, seconds, watcher=watcher
            )
            figures = mesh.mesh_figures(load, requests, watcher, drained)
            results[niceness].append({k: figures[k] for k in FIGURES})
            print(f"nice {niceness:2d}: " + _row(results[niceness][-1]), flush=True)
    finally:
        await nc.close()
    for niceness, rows in results.items():
        medians = {k: statistics.median(r[k] for r in rows) for k in FIGURES}
        print(f"median, nice {niceness:2d}: " + _row(medians))


def _row(figures: dict[str, float]) -> str:
    return (
        f"{figures['alerts_per_s']:5.0f} alerts/s, "
        f"webhook p50 {figures['p50_ms']:6.1f} p99 {figures['p99_ms']:6.1f} ms, "
        f"webhook -> ticket p50 {figures['e2e_p50_ms']:5.0f} p99 {figures['e2e_p99_ms']:5.0f} ms"
    )


async def main(argv: list[str]) -> int:
    """Start the mesh on free ports and run the comparison."""
    parser = argparse.ArgumentParser(prog="python -m bench.priority_ab")
    parser.add_argument("--nice", type=int, default=5, help="the consumers' niceness in B steps")
    parser.add_argument("--rate", type=int, default=250, help="webhooks per second")
    parser.add_argument("--steps", type=int, default=10, help="steps in all, A and B alternating")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per step")
    parser.add_argument(
        "--services",
        type=lambda v: tuple(n for n in v.split(",") if n),
        default=CONSUMERS,
        help=f"whose niceness alternates (default {','.join(CONSUMERS)}); the rest stay at 0",
    )
    args = parser.parse_args(argv)
    async with running_mesh() as stack:
        set_consumers_niceness(stack, 0, CONSUMERS)  # those not compared stay at 0
        await compare(
            stack,
            nice=args.nice,
            rate=args.rate,
            steps=args.steps,
            seconds=args.seconds,
            services=args.services,
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
