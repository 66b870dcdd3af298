"""Runs one service process: telemetry, DB, bus, outbox relay, consumers, gRPC, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from triage.runtime.access_list import AccessList, AccessWatcher
from triage.runtime.audit_service import install_audit
from triage.runtime.auth import TokenAuthority
from triage.runtime.bus import Bus
from triage.runtime.config import Settings
from triage.runtime.consumer import BatchConsumer
from triage.runtime.db import Database
from triage.runtime.grpc_server import GrpcServer
from triage.runtime.logs import configure_logging
from triage.runtime.metrics import serve_metrics
from triage.runtime.outbox import Outbox, OutboxRelay
from triage.runtime.relay_leader import RelayLeadership
from triage.runtime.telemetry import setup_tracing

log = logging.getLogger(__name__)


def authority_from(settings: Settings) -> TokenAuthority:
    """The token authority configured by ``settings``."""
    return TokenAuthority(
        settings.auth_signing_key.get_secret_value(),
        previous=[k.get_secret_value() for k in settings.auth_previous_signing_keys],
        issuer=settings.auth_issuer,
    )


@dataclass
class Runtime:
    """What a service's wiring gets to build its servicers, consumers and tasks from."""

    settings: Settings
    db: Database
    bus: Bus
    outbox: Outbox
    authority: TokenAuthority
    grpc: GrpcServer
    consumers: list[BatchConsumer] = field(default_factory=list)
    tasks: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def add_servicer(self, register: Callable[[Any], None], full_names: Iterable[str]) -> None:
        """Register a gRPC servicer with the server."""
        self.grpc.add(register, full_names)


Wiring = Callable[[Runtime], Awaitable[None]]


async def run_service(
    settings: Settings,
    *,
    schema: str,
    outbox: Outbox,
    wire: Wiring,
    streams: Iterable[str] = (),
    stop_event: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
    started: asyncio.Event | None = None,
) -> None:
    """Run a service until SIGTERM/SIGINT (or ``stop_event``), then shut down gracefully.

    Order on shutdown: health NOT_SERVING and stop accepting calls (with grace); consumers
    stop fetching and finish the batch in flight; the relay publishes what was committed;
    consumers give their partitions back (another replica takes them over at once); close
    NATS, close the pool. ``streams`` names the event domains whose streams the service
    publishes to or consumes from (made sure of at start).
    """
    if install_signal_handlers:
        configure_logging(settings.service_name, settings.log_level)
    setup_tracing(settings.service_name, otlp_endpoint=settings.otlp_endpoint)
    serve_metrics(settings.grpc_host, settings.metrics_port)
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT) if install_signal_handlers else ():
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    db = Database(
        settings.database_url,
        schema=schema,
        pool_size=settings.database_pool_size,
        prepare_threshold=settings.database_prepare_threshold,
    )
    bus = await Bus.connect(
        settings.nats_url,
        name=f"triage-{settings.service_name}",
        partitions=settings.partitions,
        streams=streams,
    )
    authority = authority_from(settings)
    # Revoked tokens and suspended tenants are loaded before the first call is served.
    access = AccessWatcher(bus.js, AccessList())
    await access.start()
    authority.access = access.access
    server = GrpcServer(
        service=settings.service_name,
        host=settings.grpc_host,
        port=settings.grpc_port,
        authority=authority,
    )
    runtime = Runtime(settings, db, bus, outbox, authority, server)
    install_audit(runtime)
    relay = OutboxRelay(
        db=db,
        bus=bus,
        outbox=outbox,
        service=settings.service_name,
        retention=timedelta(hours=settings.outbox_retention_hours),
        leadership=RelayLeadership(db),
    )
    await wire(runtime)
    for consumer in runtime.consumers:
        consumer.on_handover = relay.flush
    background = [asyncio.create_task(relay.run(), name="outbox-relay")]
    background += [asyncio.create_task(c.run(), name=c.durable) for c in runtime.consumers]
    background.append(asyncio.create_task(access.run(), name="access-list"))
    background += [
        asyncio.create_task(t(), name=getattr(t, "__name__", "task")) for t in runtime.tasks
    ]
    await server.start()
    log.info("serving", extra={"grpc_port": server.port})
    if started is not None:
        started.set()
    try:
        await _wait_for_stop(stop, background)
    finally:
        log.info("shutting down")
        for consumer in runtime.consumers:
            await consumer.stop()
        await server.stop(settings.shutdown_grace_seconds)
        await access.stop()
        for hook in runtime.on_stop:
            with contextlib.suppress(Exception):
                await hook()
        relay_task, others = background[0], background[1:]
        await _drain_consumers(runtime.consumers, others, settings.shutdown_grace_seconds)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_publish_all(relay), timeout=5)
        for consumer in runtime.consumers:
            await consumer.leave()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await bus.close()
        await db.dispose()


async def _publish_all(relay: OutboxRelay) -> None:
    while await relay.publish_pending():
        pass


async def _drain_consumers(
    consumers: list[BatchConsumer], tasks: list[asyncio.Task[None]], grace: float
) -> None:
    """Ask every consumer to stop after its batch in flight and wait for them (bounded)."""
    for consumer in consumers:
        await consumer.stop()
    running = [t for t in tasks[: len(consumers)] if not t.done()]
    if running:
        await asyncio.wait(running, timeout=grace)


async def _wait_for_stop(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception() is not None:
            raise RuntimeError(f"background task {task.get_name()} died") from task.exception()


def _name(task: Callable[[], Coroutine[Any, Any, None]]) -> str:
    return str(getattr(task, "__name__", "task"))
