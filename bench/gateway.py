"""Gateway scenario: webhooks/s to a durable 202, p50/p99, against the floor, same run."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench.harness import floor_process, run_load_async, seed_targets
from bench.profile import py_spy
from bench.workload import mixed_requests
from triage.devstack.stack import Stack

CONCURRENCY = (8, 32, 128)
QUICK_CONCURRENCY = (32,)


async def run(stack: Stack, *, quick: bool) -> dict[str, Any]:
    """Measure the floor and the gateway at each concurrency level."""
    count = 3000 if quick else 20000
    seconds = 5.0 if quick else 12.0
    levels = QUICK_CONCURRENCY if quick else CONCURRENCY
    targets = await seed_targets(stack, tenants=10, providers=("ninjaone", "generic"))
    requests = mixed_requests(targets, count, seed=11)
    rows: list[dict[str, Any]] = []
    async with floor_process(stack) as (floor_url, _):
        profile = os.environ.get("TRIAGE_BENCH_PROFILE")
        for concurrency in levels:
            spy = None
            pid = stack.supervisor.pid("ingest")
            if profile and concurrency == 32 and pid:
                spy = await asyncio.create_subprocess_exec(
                    py_spy() or "py-spy",
                    "record",
                    "-r",
                    "400",
                    "-d",
                    "4",
                    "-p",
                    str(pid),
                    "-f",
                    "raw",
                    "-o",
                    profile,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            gateway_result = await run_load_async(
                stack.endpoints.http,
                mixed_requests(targets, count, seed=100 + concurrency, offset=count * concurrency),
                concurrency=concurrency,
                count=count,
                seconds=seconds,
            )
            floor_result = await run_load_async(
                floor_url, requests, concurrency=concurrency, count=count, seconds=seconds
            )
            if spy is not None:
                await asyncio.wait_for(spy.wait(), 60)
            floor_result.pop("accepted")
            gateway_result.pop("accepted")
            rows.append(
                {
                    "concurrency": concurrency,
                    "floor": floor_result,
                    "gateway": gateway_result,
                    "throughput_ratio": gateway_result["throughput"] / floor_result["throughput"]
                    if floor_result["throughput"]
                    else 0.0,
                }
            )
    metrics = await _scrape(stack.endpoints.metrics["ingest"])
    return {"scenario": "gateway", "rows": rows, "ingest_batches": metrics}


async def _scrape(address: str) -> dict[str, float]:
    import httpx

    url = address if address.startswith("http") else f"http://{address}"
    async with httpx.AsyncClient() as client:
        text = (await client.get(url + "/metrics")).text
    wanted = {}
    for line in text.splitlines():
        for name in ("triage_ingest_batch_alerts", "triage_ingest_batch_seconds"):
            if line.startswith((name + "_sum", name + "_count")):
                key, value = line.split(" ")
                wanted[key] = float(value)
    return wanted
