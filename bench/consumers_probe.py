"""Probe the consumers under mesh load: events per batch, time per batch, lock waits.

``python -m bench.consumers_probe [--rate N] [--profile SVC,SVC] [--statements]`` starts the
whole mesh on free ports, sends 6 s of webhooks at N/s (250), samples ``pg_stat_activity``
for waits, optionally records py-spy profiles of services and PostgreSQL's costliest
statements, and prints each consumer's batch metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench import harness
from bench.profile import py_spy
from bench.workload import mixed_requests
from triage.devstack.endpoints import Ports
from triage.devstack.postgres import EXTRA_SETTINGS_ENV
from triage.devstack.stack import start_stack

METRICS = ("triage_consumer_batch_events", "triage_consumer_batch_seconds")


async def _waits(dsn: str, rounds: int) -> collections.Counter[tuple[object, ...]]:
    waits: collections.Counter[tuple[object, ...]] = collections.Counter()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for _ in range(rounds):
            rows = await (
                await conn.execute(
                    "SELECT state, wait_event_type, wait_event, left(query, 60) "
                    "FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).fetchall()
            for state, kind, event, query in rows:
                if state == "active" or kind == "Lock":
                    waits[(kind, event, query)] += 1
            await asyncio.sleep(0.1)
    return waits


_STATEMENTS_SQL = (
    "SELECT calls, round(total_exec_time::numeric, 1), rows, wal_bytes, "
    "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) "
    "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 30"
)


async def _commit_latency(dsn: str, rounds: int) -> str:
    """How long PostgreSQL takes to commit a one-row transaction while the mesh is loaded."""
    seconds: list[float] = []
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute("CREATE TEMP TABLE probe (n int)")
        await conn.commit()
        for n in range(rounds):
            started = time.perf_counter()
            await conn.execute("INSERT INTO probe VALUES (%s)", (n,))
            await conn.commit()
            seconds.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
    seconds.sort()
    return " ".join(
        f"p{q}={seconds[min(len(seconds) - 1, len(seconds) * q // 100)] * 1000:.1f} ms"
        for q in (50, 90, 99)
    )


async def probe(profiles: list[str], rate: int = 250, *, statements: bool = False) -> None:
    """Run the probe and print what it saw."""
    with tempfile.TemporaryDirectory() as data, open(os.devnull, "w") as quiet:  # noqa: ASYNC230
        async with start_stack(
            Path(data), services=True, seed=False, ports=Ports.free(), output=quiet
        ) as stack:
            targets = await harness.seed_routed_targets(
                stack, tenants=10, providers=("ninjaone", "generic")
            )
            requests = mixed_requests(targets, rate * 6)
            dsn = make_url(stack.database_url).set(drivername="postgresql").render_as_string(False)
            if statements:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as c:
                    await c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                    await c.execute("SELECT pg_stat_statements_reset()")
            sampler = asyncio.create_task(_waits(dsn, 40))
            committer = asyncio.create_task(_commit_latency(dsn, 200))
            spies = [
                subprocess.Popen(  # noqa: ASYNC220
                    [
                        py_spy() or "py-spy",
                        "record",
                        "-r",
                        "100" if len(profiles) > 1 else "300",
                        "-d",
                        "6",
                        "-p",
                        str(stack.supervisor.pid(profile)),
                        "-f",
                        "raw",
                        "-o",
                        str(Path(tempfile.gettempdir()) / f"{profile}.prof"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for profile in profiles
            ]
            sent = await asyncio.to_thread(
                harness.run_load,
                stack.endpoints.http,
                requests,
                concurrency=max(16, rate // 10),
                count=rate * 6,
                seconds=6,
                rate=rate,
            )
            print("sent", sent["requests"], "at", round(sent["throughput"]), "/s")
            print("commit latency (one-row transaction, same server):", await committer)
            for key, count in (await sampler).most_common(12):
                print("wait", count, key)
            for profile, spy in zip(profiles, spies, strict=True):
                spy.wait()
                print(f"profile: {Path(tempfile.gettempdir()) / f'{profile}.prof'}")
            await asyncio.sleep(8)
            if statements:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as c:
                    print("statement: calls, ms, rows, WAL bytes, text")
                    for row in await (await c.execute(_STATEMENTS_SQL)).fetchall():
                        print("statement", *row)
            async with httpx.AsyncClient() as client:
                address = stack.endpoints.metrics["ingest"]
                url = address if address.startswith("http") else f"http://{address}"
                text = (await client.get(url + "/metrics")).text
                for histogram in ("triage_webhook_seconds", "triage_ingest_batch_seconds"):
                    print(histogram, _quantiles(text, histogram))
                sizes = _quantiles(text, "triage_ingest_batch_alerts", 1)
                print("triage_ingest_batch_alerts", sizes)
                for name in ("rules", "tickets", "sla", "notify"):
                    address = stack.endpoints.metrics[name]
                    url = address if address.startswith("http") else f"http://{address}"
                    values: dict[tuple[str, str], float] = {}
                    for line in (await client.get(url + "/metrics")).text.splitlines():
                        if line.startswith(METRICS) and ("_sum{" in line or "_count{" in line):
                            metric, _, value = line.rpartition(" ")
                            consumer = metric.split('consumer="')[1].split('"')[0]
                            values[(consumer, metric.split("{")[0])] = float(value)
                    for consumer in sorted({c for c, _ in values}):
                        events = values.get((consumer, "triage_consumer_batch_events_sum"), 0)
                        batches = values.get((consumer, "triage_consumer_batch_events_count"), 0)
                        seconds = values.get((consumer, "triage_consumer_batch_seconds_sum"), 0)
                        if events:
                            per_event = seconds / events * 1000
                            print(
                                f"{name:8} {consumer:28} events {events:6.0f}"
                                f" batches {batches:4.0f} ms/event {per_event:6.2f}"
                            )


def _quantiles(text: str, histogram: str, scale: float = 1000) -> str:
    """p50/p90/p99 upper bucket bounds of a Prometheus histogram (labels summed), in ms
    (``scale`` 1000) or as counted (``scale`` 1)."""
    buckets: dict[float, float] = collections.defaultdict(float)
    for line in text.splitlines():
        if line.startswith(histogram + "_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            buckets[float(le)] += float(line.rpartition(" ")[2])
    total = buckets.get(float("inf"), 0.0)
    if not total:
        return "no samples"
    found = []
    for q in (0.5, 0.9, 0.99):
        bound = next(b for b in sorted(buckets) if buckets[b] >= q * total)
        unit = " ms" if scale == 1000 else ""
        found.append(f"p{round(q * 100)}<={bound * scale:g}{unit}")
    return f"{total:.0f} samples, " + ", ".join(found)


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--profile", default="", help="services to record with py-spy (comma-separated)"
    )
    parser.add_argument("--rate", type=int, default=250, help="webhooks per second for 6 s")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="print PostgreSQL's costliest statements (pg_stat_statements)",
    )
    args = parser.parse_args()
    if args.statements:
        os.environ[EXTRA_SETTINGS_ENV] = (
            "shared_preload_libraries=pg_stat_statements;pg_stat_statements.track=all"
        )
    profiles = [p for p in args.profile.split(",") if p]
    asyncio.run(probe(profiles, args.rate, statements=args.statements))


if __name__ == "__main__":
    main()
