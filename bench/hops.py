"""Per-hop latency of one alert through a quiet mesh.

``python -m bench.hops [--alerts 150] [--interval 0.05]`` starts the mesh, sends trigger
webhooks one at a time and times each hop from what the bus shows: the webhook's answer,
202 -> ``alert.received`` published (ingest's relay), -> ``alert.routed`` (rules), -> its
ticket event (tickets). On an idle machine these are the mesh's fixed costs (lingers,
fetch waits, commits), not contention.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time

import httpx
import nats
from nats.aio.msg import Msg

from bench import mesh
from bench.harness import running_mesh, seed_routed_targets
from bench.loadgen import percentile
from bench.workload import mixed_requests
from triage.devstack.stack import Stack
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.rules.v1 import events_pb2 as rules_events

HOPS = ("webhook answered", "202 -> alert.received", "-> alert.routed", "-> ticket event")


class AlertStages:
    """When each alert's ``alert.received`` and ``alert.routed`` were seen on the bus."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.routed: dict[str, float] = {}

    async def on_alert(self, msg: Msg) -> None:
        """A ``triage.alert.>`` event."""
        now = time.time()
        envelope = Envelope.FromString(msg.data)
        if envelope.type == "alert.received":
            received = ingest_events.AlertReceived.FromString(envelope.payload.value)
            self.received.setdefault(received.alert.alert_id, now)
        elif envelope.type == "alert.routed":
            routed = rules_events.AlertRouted.FromString(envelope.payload.value)
            self.routed.setdefault(routed.alert.alert_id, now)


async def measure(stack: Stack, *, alerts: int, interval: float) -> dict[str, list[float]]:
    """Send ``alerts`` triggers ``interval`` s apart; each hop's durations in seconds."""
    targets = await seed_routed_targets(stack, tenants=3, providers=("generic", "ninjaone"))
    nc = await nats.connect(stack.nats_url, name="bench-hops")
    stages, tickets = AlertStages(), mesh.Watcher()
    await nc.subscribe("triage.alert.>", cb=stages.on_alert)
    await nc.subscribe("triage.ticket.>", cb=tickets.on_ticket)
    requests = [r for r in mixed_requests(targets, alerts * 4, seed=5) if r["kind"] == "trigger"]
    sent: dict[str, tuple[float, float]] = {}
    try:
        async with httpx.AsyncClient(base_url=stack.endpoints.http) as client:
            for request in requests[:alerts]:
                started = time.time()
                response = await client.post(
                    request["path"],
                    content=base64.b64decode(request["body_b64"]),
                    headers=request["headers"],
                )
                answered = time.time()
                for alert_id in response.json().get("alert_ids", []):
                    sent[alert_id] = (started, answered)
                await asyncio.sleep(interval)
        await mesh.drain(tickets, set(sent), load_end=time.time(), limit=10.0)
    finally:
        await nc.close()
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for alert_id, (started, answered) in sent.items():
        received = stages.received.get(alert_id)
        routed = stages.routed.get(alert_id)
        effect = tickets.effects.get(alert_id)
        if received is None or routed is None or effect is None:
            continue
        for hop, seconds in zip(
            HOPS,
            (answered - started, received - answered, routed - received, effect[0] - routed),
            strict=True,
        ):
            hops[hop].append(seconds)
    return hops


async def main(argv: list[str]) -> int:
    """Start the mesh on free ports, measure, print p50/p90 per hop."""
    parser = argparse.ArgumentParser(prog="python -m bench.hops")
    parser.add_argument("--alerts", type=int, default=150, help="triggers to send")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between them")
    args = parser.parse_args(argv)
    async with running_mesh() as stack:
        hops = await measure(stack, alerts=args.alerts, interval=args.interval)
    print(f"{len(hops[HOPS[0]])} alerts, one every {args.interval * 1000:.0f} ms")
    for hop, seconds in hops.items():
        print(
            f"  {hop:24s} p50 {percentile(seconds, 50) * 1000:6.1f} ms"
            f"  p90 {percentile(seconds, 90) * 1000:6.1f} ms"
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    sys.exit(asyncio.run(main(sys.argv[1:])))
