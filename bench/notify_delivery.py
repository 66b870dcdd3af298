"""Notify throughput and latency for ``make bench``: event -> webhook delivered.

Drives a running notify service (the mesh's process) the way production does: a webhook
channel and a ``ticket.opened`` policy are created over gRPC, then ``ticket.opened``
envelopes are published to JetStream (with ``Nats-Msg-Id``, as the outbox relay does). A
local receiver (raw ASGI on uvicorn, in this process) answers 200 and notes when each
event's POST arrived (``X-Triage-Event-Id``). Two runs:

- burst: ``events`` published as fast as possible; deliveries/s is what got through from
  the first publish to the last arrival (the backlog is in the latency figures);
- paced: ``paced_rate`` events/s (at most half the burst's deliveries/s) for
  ``paced_seconds``; event -> delivered p50/p99 at a load notify keeps up with.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any

import grpc
import nats
import uvicorn
from nats.js import JetStreamContext

from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import new_envelope, subject_for
from triage.tickets.v1 import events_pb2 as ticket_events
from triage.tickets.v1 import resources_pb2 as tickets_pb

Metadata = Sequence[tuple[str, str]]
_IN_FLIGHT = 64


class Receiver:
    """A raw ASGI app that records when each event's POST arrived, and answers 200."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.posts = 0
        self.arrived = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    kind = message["type"]
                    await send({"type": kind + ".complete"})
                    if kind == "lifespan.shutdown":
                        return
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        now = time.time()
        self.posts += 1
        for name, value in scope["headers"]:
            if name == b"x-triage-event-id":
                self.arrivals.setdefault(value.decode(), now)
                self.arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _setup(grpc_address: str, metadata: Metadata, url: str) -> None:
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        stub = api_grpc.NotifyServiceStub(channel)
        created = await stub.CreateChannel(
            api.CreateChannelRequest(
                request_id=str(uuid.uuid4()),
                channel=pb.Channel(
                    display_name="bench receiver",
                    kind=pb.CHANNEL_KIND_WEBHOOK,
                    webhook=pb.WebhookConfig(url=url, signing_secret=secrets.token_hex(16)),
                ),
            ),
            metadata=metadata,
        )
        await stub.CreateNotificationPolicy(
            api.CreateNotificationPolicyRequest(
                request_id=str(uuid.uuid4()),
                notification_policy=pb.NotificationPolicy(
                    display_name="bench: every opened ticket",
                    event_types=[pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED],
                    channel_ids=[created.channel.id],
                ),
            ),
            metadata=metadata,
        )


def _opened(tenant_id: str, number: int) -> tuple[str, bytes]:
    ticket = tickets_pb.Ticket(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        number=number,
        title=f"Bench ticket {number}",
        priority=tickets_pb.PRIORITY_P3,
        status=tickets_pb.TICKET_STATUS_NEW,
        source=tickets_pb.TICKET_SOURCE_ALERT,
        device_name=f"SRV-{number % 500:04d}",
    )
    envelope = new_envelope(
        tenant_id=tenant_id,
        event_type="ticket.opened",
        payload=ticket_events.TicketOpened(ticket=ticket, alert_id=str(uuid.uuid4())),
        producer="bench",
        ordering_key=ticket.id,
    )
    return envelope.event_id, envelope.SerializeToString()


async def _publish(
    js: JetStreamContext,
    tenant_id: str,
    first: int,
    count: int,
    rate: float | None,
    published: dict[str, float],
) -> None:
    subject = subject_for("ticket.opened", tenant_id)
    gate = asyncio.Semaphore(_IN_FLIGHT)
    started = time.monotonic()

    async def one(event_id: str, data: bytes) -> None:
        try:
            await js.publish(subject, data, headers={"Nats-Msg-Id": event_id})
        finally:
            gate.release()

    tasks: list[asyncio.Task[None]] = []
    for k in range(count):
        if rate:
            delay = started + k / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        event_id, data = _opened(tenant_id, first + k)
        await gate.acquire()
        published[event_id] = time.time()
        tasks.append(asyncio.create_task(one(event_id, data)))
    await asyncio.gather(*tasks)


async def _wait(receiver: Receiver, ids: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ids.issubset(receiver.arrivals.keys()):
        receiver.arrived.clear()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.arrived.wait(), remaining)


def _figures(receiver: Receiver, published: dict[str, float]) -> dict[str, float]:
    latencies = [receiver.arrivals[e] - t for e, t in published.items() if e in receiver.arrivals]
    arrived = [receiver.arrivals[e] for e in published if e in receiver.arrivals]
    span = max(arrived, default=0.0) - min(published.values(), default=0.0)
    return {
        "events": float(len(published)),
        "delivered": float(len(latencies)),
        "deliveries_per_s": len(latencies) / span if span > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.5) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=0.0) * 1000,
    }


async def delivery_bench(
    *,
    grpc_address: str,
    nats_url: str,
    tenant_id: str,
    metadata: Metadata,
    port: int,
    events: int = 5000,
    paced_rate: float = 200.0,
    paced_seconds: float = 8.0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Burst and paced runs against the notify service at ``grpc_address``."""
    receiver = Receiver()
    config = uvicorn.Config(
        receiver,
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    nc = await nats.connect(nats_url, name="bench-notify")
    try:
        while not server.started:
            if serving.done():
                raise RuntimeError("the bench receiver did not start")
            await asyncio.sleep(0.02)
        await _setup(grpc_address, metadata, f"http://127.0.0.1:{port}/hook")
        js = nc.jetstream()
        warm: dict[str, float] = {}
        await _publish(js, tenant_id, 0, 50, None, warm)
        await _wait(receiver, set(warm), 30)
        burst: dict[str, float] = {}
        await _publish(js, tenant_id, 100, events, None, burst)
        await _wait(receiver, set(burst), timeout)
        # Paced below what the burst got through, so the latency is notify's, not a queue's.
        paced_rate = max(5.0, min(paced_rate, 0.5 * _figures(receiver, burst)["deliveries_per_s"]))
        paced: dict[str, float] = {}
        count = int(paced_rate * paced_seconds)
        await _publish(js, tenant_id, 100 + events, count, paced_rate, paced)
        await _wait(receiver, set(paced), timeout)
        return {
            "burst": _figures(receiver, burst),
            "paced": {**_figures(receiver, paced), "rate": paced_rate},
            "receiver_posts": receiver.posts,
        }
    finally:
        await nc.close()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, 10)
