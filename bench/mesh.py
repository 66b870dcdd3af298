"""Mesh scenario: webhook -> ingest -> rules -> tickets, all five services as processes.

At each open-loop rate the load generator (its own process) sends a realistic mix to the
gateway; the bench process watches the event bus with plain core-NATS subscriptions:

- ``triage.ticket.>``: every ``ticket.opened`` / ``ticket.occurred`` / ``ticket.reopened``
  names the alert that caused it. The instant the bench process *receives* that event is
  when the alert's ticket effect is visible: the tickets service committed it (outbox in
  the same transaction) and its relay published it. Webhook -> ticket latency is that
  instant minus the instant the webhook was due (open loop: queueing in front of a slow
  gateway counts). The envelope's ``occurred_time`` (stamped inside the tickets
  transaction) gives a second, commit-side figure that leaves out the relay's delay.
- ``triage.alert.>``: counts of ``alert.received`` and ``alert.routed`` per step, so a
  shortfall shows which stage fell behind.

Only triggers open or touch tickets (a trigger arriving after its reset counts on the
ticket that reset acted on, as if in order); resets do not, so the webhook -> ticket
figures count accepted triggers only. The floor (one
insert, one JetStream publish per request) takes the same requests at the same rate
right after each mesh step, so the ratios compare like with like.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bench import profile as spy
from bench.harness import (
    ProcessSampler,
    floor_process,
    run_load_async,
    seed_routed_targets,
    server_pids,
    service_pids,
)
from bench.loadgen import percentile
from bench.workload import mixed_requests
from triage.devstack.stack import Stack
from triage.events.v1.envelope_pb2 import Envelope
from triage.mesh import SERVICE_NAMES
from triage.tickets.v1 import events_pb2 as ticket_events

PROVIDERS = ("ninjaone", "generic", "alertmanager")
TENANTS = 10
RATES = (250, 500, 1000, 2000)
QUICK_RATES = (250, 1000)
SENDERS = 64
"""Connections of the open-loop load generator (enough that it never waits for one)."""
QUIET_SECONDS = 4.0
"""The mesh is idle when no alert or ticket event arrived for this long."""
MAX_DRAIN_SECONDS = 90.0
"""At most this long after a step's load for its tickets (a saturated mesh's backlog)."""
KEEPS_UP = 0.8
"""Rates stop rising once ticketed triggers/s fall below this share of those offered."""

_ALERT_CARRIERS: dict[str, Any] = {
    "ticket.opened": ticket_events.TicketOpened,
    "ticket.occurred": ticket_events.TicketOccurred,
    "ticket.reopened": ticket_events.TicketReopened,
}


@dataclass
class Watcher:
    """What the bus showed: the first ticket effect of each alert, and event counts."""

    effects: dict[str, tuple[float, float]] = field(default_factory=dict)
    """alert id -> (wall instant received here, envelope occurred_time)."""
    counts: Counter[str] = field(default_factory=Counter)
    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    last_any: float = 0.0

    def reset(self) -> None:
        """Forget the previous step."""
        self.effects.clear()
        self.counts.clear()
        self.first.clear()
        self.last.clear()

    def _seen(self, kind: str, now: float) -> None:
        self.counts[kind] += 1
        self.first.setdefault(kind, now)
        self.last[kind] = now
        self.last_any = now

    async def on_ticket(self, msg: Msg) -> None:
        """A ``triage.ticket.>`` event."""
        now = time.time()
        envelope = Envelope.FromString(msg.data)
        self._seen("ticket", now)
        self._seen(envelope.type, now)
        carrier = _ALERT_CARRIERS.get(envelope.type)
        if carrier is None:
            return
        alert_id = carrier.FromString(envelope.payload.value).alert_id
        if alert_id and alert_id not in self.effects:
            stamp = envelope.occurred_time
            self.effects[alert_id] = (now, stamp.seconds + stamp.nanos / 1e9)

    async def subscribe(self, nc: NatsClient) -> None:
        """Watch ``nc``'s ticket and alert events."""
        await nc.subscribe("triage.ticket.>", cb=self.on_ticket)
        await nc.subscribe("triage.alert.>", cb=self.on_alert)

    async def on_alert(self, msg: Msg) -> None:
        """A ``triage.alert.>`` event: count it by type (``alert.received`` ...)."""
        parts = msg.subject.split(".", 3)
        self._seen(f"{parts[1]}.{parts[2]}", time.time())


async def run(
    stack: Stack,
    *,
    quick: bool,
    profile: str | None,
    out_dir: Path,
    rates: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Seed tenants and rules, then measure the mesh and the floor at each rate."""
    rates = rates or (QUICK_RATES if quick else RATES)
    seconds = 3.0 if quick else 9.0
    targets = await seed_routed_targets(stack, tenants=TENANTS, providers=PROVIDERS)
    nc = await nats.connect(stack.nats_url, name="bench-watcher")
    watcher = Watcher()
    await watcher.subscribe(nc)
    gateway = stack.endpoints.http
    rows: list[dict[str, Any]] = []
    findings: dict[str, Any] | None = None
    try:
        async with floor_process(stack) as (floor_url, floor_pid):
            # Warm up: rule sets and tenant caches loaded, pools and consumers busy once.
            warm = mixed_requests(targets, 300, seed=1)
            offset = len(warm)
            await run_load_async(
                gateway, warm, concurrency=8, count=len(warm), seconds=10, rate=150
            )
            saturated_at: int | None = None
            for step, rate in enumerate(rates):
                await drain(watcher, set(), load_end=time.time())  # idle before each step
                count = int(rate * seconds)
                requests = mixed_requests(targets, count, seed=100 + step, offset=offset)
                offset += count
                watcher.reset()
                if saturated_at is not None:
                    floor, floor_usage, _ = await sampled(
                        {"floor": floor_pid, **server_pids(stack)},
                        floor_url,
                        requests,
                        rate,
                        seconds,
                    )
                    floor.pop("accepted")
                    floor["resources"] = floor_usage
                    rows.append(
                        {
                            "label": f"{rate}/s",
                            "rate": rate,
                            "mesh": None,
                            "skipped": f"mesh saturated at {saturated_at}/s",
                            "floor": floor,
                        }
                    )
                    _progress(rows[-1])
                    continue
                profiling = None
                last_mesh_step = step == len(rates) - 1
                if profile and last_mesh_step:
                    target = _profile_target(profile, rows)
                    profiling = asyncio.create_task(
                        spy.record(target, stack.supervisor.pid(target), out_dir, delay=seconds / 3)
                    )
                pids = {**service_pids(stack, SERVICE_NAMES), **server_pids(stack)}
                pids["bench"] = os.getpid()
                load, usage, drained = await sampled(
                    pids, gateway, requests, rate, seconds, watcher=watcher
                )
                if profiling is not None:
                    findings = await profiling
                mesh = mesh_figures(load, requests, watcher, drained)
                mesh["resources"] = usage
                pids = {"floor": floor_pid, **server_pids(stack)}
                floor, floor_usage, _ = await sampled(pids, floor_url, requests, rate, seconds)
                floor.pop("accepted")
                floor["resources"] = floor_usage
                rows.append(
                    {
                        "label": f"{rate}/s",
                        "rate": rate,
                        "mesh": mesh,
                        "floor": floor,
                        "throughput_ratio": _ratio(mesh["alerts_per_s"], floor["throughput"]),
                        "webhook_p99_ratio": _ratio(mesh["p99_ms"], floor["p99_ms"]),
                    }
                )
                _progress(rows[-1])
                keeps_up = mesh["ticketed_per_s"] >= KEEPS_UP * mesh["offered_triggers_per_s"]
                if not keeps_up:
                    saturated_at = rate
                    if profile and not last_mesh_step:
                        findings = await _profile_saturated(
                            stack, profile, rows, targets, rate, seconds, offset, out_dir, watcher
                        )
                        offset += int(rate * seconds)
    finally:
        await nc.close()
    return {
        "scenario": "mesh",
        "tenants": TENANTS,
        "providers": list(PROVIDERS),
        "seconds_per_step": seconds,
        "senders": SENDERS,
        "method": __doc__,
        "rows": rows,
        "profile": findings,
    }


async def _profile_saturated(
    stack: Stack,
    profile: str,
    rows: list[dict[str, Any]],
    targets: list[Any],
    rate: float,
    seconds: float,
    offset: int,
    out_dir: Path,
    watcher: Watcher,
) -> dict[str, Any]:
    """py-spy the busiest (or named) service while the mesh is saturated at ``rate``."""
    await drain(watcher, set(), load_end=time.time())
    requests = mixed_requests(targets, int(rate * seconds), seed=999, offset=offset)
    target = _profile_target(profile, rows)
    profiling = asyncio.create_task(
        spy.record(target, stack.supervisor.pid(target), out_dir, delay=seconds / 3)
    )
    await run_load_async(
        stack.endpoints.http,
        requests,
        concurrency=SENDERS,
        count=len(requests),
        seconds=seconds,
        rate=rate,
    )
    findings = await profiling
    await drain(watcher, set(), load_end=time.time())
    return findings


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


async def sampled(
    pids: dict[str, int],
    url: str,
    requests: list[dict[str, Any]],
    rate: float,
    seconds: float,
    *,
    watcher: Watcher | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, float]], float]:
    """One open-loop step with CPU/RSS sampling; with a watcher, wait for the mesh to drain.

    Returns the load generator's figures, the processes' usage and the drain seconds.
    """
    sampler = ProcessSampler(pids)
    sampling = asyncio.create_task(sampler.run())
    drained = 0.0
    try:
        load = await run_load_async(
            url,
            requests,
            concurrency=SENDERS,
            count=len(requests),
            seconds=seconds,
            rate=rate,
            sampler=sampler,
        )
        load["load_end"] = time.time()
        if watcher is not None:
            triggers = {a[1] for a in load["accepted"] if requests[a[2]]["kind"] == "trigger"}
            drained = await drain(watcher, triggers, load_end=load["load_end"])
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    return load, sampler.result(), drained


def _profile_target(choice: str, rows: list[dict[str, Any]]) -> str:
    """``auto``: the service that used the most CPU in the previous step."""
    if choice != "auto":
        return choice
    if not rows:
        return "tickets"
    usage = rows[-1]["mesh"]["resources"]
    services: dict[str, float] = {k: v["cpu_cores"] for k, v in usage.items() if k in SERVICE_NAMES}
    return max(services, key=lambda k: services[k])


async def drain(
    watcher: Watcher, pending: set[str], *, load_end: float, limit: float = MAX_DRAIN_SECONDS
) -> float:
    """Wait until every pending trigger has a ticket effect, or the bus went quiet.

    Returns how long after the load's end the last ticket event came.
    """
    while True:
        await asyncio.sleep(0.1)
        now = time.time()
        last = watcher.last.get("ticket", load_end)
        if pending and pending.issubset(watcher.effects.keys()):
            return max(0.0, last - load_end)
        quiet = now - max(watcher.last_any, load_end)
        if quiet >= QUIET_SECONDS or now - load_end >= limit:
            return max(0.0, last - load_end)


def mesh_figures(
    load: dict[str, Any], requests: list[dict[str, Any]], watcher: Watcher, drain_seconds: float
) -> dict[str, Any]:
    accepted = load.pop("accepted")
    load_end = load.pop("load_end")
    triggers = {a[1]: a[0] for a in accepted if requests[a[2]]["kind"] == "trigger"}
    e2e: list[float] = []
    committed: list[float] = []
    for alert_id, sent in triggers.items():
        effect = watcher.effects.get(alert_id)
        if effect is not None:
            e2e.append(effect[0] - sent)
            committed.append(effect[1] - sent)
    first_sent = min((a[0] for a in accepted), default=load_end)
    last_effect = max((e[0] for e in watcher.effects.values()), default=load_end)
    span = max(1e-9, last_effect - first_sent)
    ticketed_per_s = len(e2e) / span
    stages = {}
    for kind in ("alert.received", "alert.routed", "ticket"):
        if kind in watcher.first:
            stages[kind] = {
                "events": watcher.counts[kind],
                "per_s": watcher.counts[kind] / max(1e-9, watcher.last[kind] - first_sent),
            }
    return {
        **load,
        "accepted_alerts": len(accepted),
        "triggers": len(triggers),
        "ticketed": len(e2e),
        "unticketed": len(triggers) - len(e2e),
        # Resets have no per-alert ticket event; count them at the triggers' pace.
        "alerts_per_s": ticketed_per_s * len(accepted) / len(triggers) if triggers else 0.0,
        "ticketed_per_s": ticketed_per_s,
        "offered_triggers_per_s": len(triggers) / max(1e-9, load["seconds"]),
        "e2e_p50_ms": percentile(e2e, 50) * 1000,
        "e2e_p99_ms": percentile(e2e, 99) * 1000,
        "e2e_max_ms": max(e2e, default=0.0) * 1000,
        "commit_p50_ms": percentile(committed, 50) * 1000,
        "commit_p99_ms": percentile(committed, 99) * 1000,
        "drain_s": drain_seconds,
        "stages": stages,
        "ticket_events": {k: v for k, v in watcher.counts.items() if k.startswith("ticket.")},
    }


def _progress(row: dict[str, Any]) -> None:
    m, f = row["mesh"], row["floor"]
    if m is None:
        print(
            f"mesh {row['label']:>7}: {row['skipped']}; floor {f['throughput']:6.0f}/s"
            f" p99 {f['p99_ms']:5.1f} ms",
            file=sys.stderr,
            flush=True,
        )
        return
    print(
        f"mesh {row['label']:>7}: {m['alerts_per_s']:7.0f} alerts/s, webhook p99"
        f" {m['p99_ms']:6.1f} ms, webhook->ticket p99 {m['e2e_p99_ms']:7.0f} ms,"
        f" ticketed {m['ticketed']}/{m['triggers']}; floor {f['throughput']:6.0f}/s"
        f" p99 {f['p99_ms']:5.1f} ms",
        file=sys.stderr,
        flush=True,
    )
