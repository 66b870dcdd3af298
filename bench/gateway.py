"""Gateway scenario: webhooks/s to a durable 202, p50/p99, against the floor, same run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

from sqlalchemy.engine import make_url

from bench.harness import run_load, seed_targets, wait_ready
from bench.workload import mixed_requests
from triage.devstack._util import free_port
from triage.devstack.stack import Stack

CONCURRENCY = (8, 32, 128)


async def run(stack: Stack, *, quick: bool) -> dict[str, Any]:
    """Measure the floor and the gateway at each concurrency level."""
    count = 3000 if quick else 20000
    seconds = 5.0 if quick else 12.0
    targets = await seed_targets(stack, tenants=10, providers=("ninjaone", "generic"))
    requests = mixed_requests(targets, count, seed=11)
    floor_port = free_port()
    conninfo = make_url(stack.database_url).set(drivername="postgresql").render_as_string(False)
    floor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.floor",
            "--port",
            str(floor_port),
            "--conninfo",
            conninfo,
            "--nats-url",
            stack.nats_url,
        ]
    )
    rows: list[dict[str, Any]] = []
    try:
        await wait_ready(f"http://127.0.0.1:{floor_port}/", within=30)
        profile = os.environ.get("TRIAGE_BENCH_PROFILE")
        for concurrency in CONCURRENCY:
            spy = None
            if profile and concurrency == 32:
                pid = stack.supervisor.pid("ingest")
                spy = subprocess.Popen(
                    ["py-spy", "record", "-r", "400", "-d", "4", "-p", str(pid), "-f", "raw",
                     "-o", profile],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            gateway_result = await asyncio.to_thread(
                run_load,
                stack.endpoints.http,
                mixed_requests(targets, count, seed=100 + concurrency),
                concurrency=concurrency,
                count=count,
                seconds=seconds,
            )
            floor_result = await asyncio.to_thread(
                run_load,
                f"http://127.0.0.1:{floor_port}",
                requests,
                concurrency=concurrency,
                count=count,
                seconds=seconds,
            )
            if spy is not None:
                spy.wait(timeout=60)
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
    finally:
        floor.terminate()
        floor.wait(timeout=20)
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
