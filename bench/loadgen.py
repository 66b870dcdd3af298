"""A small, fast HTTP/1.1 load generator, run as its own process on loopback.

Keep-alive connections, one request in flight per connection, raw sockets on uvloop (an
HTTP client library would be the bottleneck). Bounded by a request count and a deadline.

Input: a JSON file of requests ``[{"path", "headers", "body_b64"}]`` cycled in order.
Output (stdout): JSON with counts per status, throughput and latency percentiles, and for
each accepted alert the instant its request was due (open loop, ``--rate``) or sent, its
id and the request's index (for end-to-end latency matching).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

_GRACE = 10.0
"""Seconds past the deadline an open-loop run still sends what was due before it."""


@dataclass
class Stats:
    """What one run measured."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: list[tuple[float, str, int]] = field(default_factory=list)
    """(wall-clock instant the request was due or sent, alert id, request index)."""
    errors: int = 0


def _encode(host: str, port: int, item: dict[str, Any]) -> bytes:
    body = base64.b64decode(item["body_b64"])
    lines = [f"POST {item['path']} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in item["headers"].items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _worker(
    host: str,
    port: int,
    payloads: list[bytes],
    next_index: list[int],
    limit: int,
    deadline: float,
    stats: Stats,
    schedule: asyncio.Queue[float] | None,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            if schedule is not None:
                # Open loop: the request was due at ``due``; time it from then, so a queue
                # in front of a slow server counts (no coordinated omission). A negative
                # instant means stop; so does falling far behind.
                due = await schedule.get()
                if due < 0 or time.monotonic() > deadline + _GRACE:
                    break
            elif next_index[0] >= limit or time.monotonic() >= deadline:
                break
            i = next_index[0]
            next_index[0] += 1
            started = time.monotonic()
            if schedule is None:
                due = started
            writer.write(payloads[i % len(payloads)])
            try:
                status, body = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                stats.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            now = time.monotonic()
            elapsed = now - due
            stats.latencies.append(elapsed)
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            if status == 202:
                sent = time.time() - elapsed
                for alert_id in json.loads(body)["alert_ids"]:
                    stats.accepted.append((sent, alert_id, i))
    finally:
        writer.close()


async def _schedule(queue: asyncio.Queue[float], rate: float, limit: int, deadline: float) -> int:
    """Put the due instant of request k (``start + k / rate``) on ``queue`` when it is due."""
    start = time.monotonic()
    k = 0
    while k < limit:
        now = time.monotonic()
        if now >= deadline:
            return k
        while k < limit and start + k / rate <= now:
            queue.put_nowait(start + k / rate)
            k += 1
        await asyncio.sleep(min(0.002, max(0.0, start + k / rate - time.monotonic())))
    return k


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``values`` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run(
    url: str,
    requests: list[dict[str, Any]],
    *,
    concurrency: int,
    count: int,
    seconds: float,
    rate: float | None,
) -> dict[str, Any]:
    """Send up to ``count`` requests within ``seconds``; return the measurements."""
    host_port = url.split("://", 1)[1].rstrip("/")
    host, port = host_port.split(":")
    payloads = [_encode(host, int(port), r) for r in requests]
    stats = Stats()
    counter = [0]
    started = time.monotonic()
    deadline = started + seconds
    schedule: asyncio.Queue[float] | None = asyncio.Queue() if rate else None
    tasks = [
        asyncio.create_task(
            _worker(host, int(port), payloads, counter, count, deadline, stats, schedule)
        )
        for _ in range(concurrency)
    ]
    feeder = (
        asyncio.create_task(_schedule(schedule, rate, count, deadline))
        if schedule is not None and rate
        else None
    )
    scheduled = 0
    if feeder is not None and schedule is not None:
        scheduled = await feeder
        for _ in tasks:
            schedule.put_nowait(-1.0)  # after every due request: FIFO
    await asyncio.gather(*tasks)
    dropped = max(0, scheduled - len(stats.latencies) - stats.errors) if scheduled else 0
    elapsed = time.monotonic() - started
    done = len(stats.latencies)
    return {
        "concurrency": concurrency,
        "requests": done,
        "seconds": elapsed,
        "throughput": done / elapsed if elapsed else 0.0,
        "p50_ms": percentile(stats.latencies, 50) * 1000,
        "p99_ms": percentile(stats.latencies, 99) * 1000,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "errors": stats.errors,
        "dropped": dropped,
        "accepted": stats.accepted,
    }


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests-file", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=None, help="requests/s cap (open loop)")
    args = parser.parse_args()
    with open(args.requests_file) as handle:
        requests = json.load(handle)
    import uvloop

    result = uvloop.run(
        run(
            args.url,
            requests,
            concurrency=args.concurrency,
            count=args.count,
            seconds=args.seconds,
            rate=args.rate,
        )
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
