"""Builds the notify process: the gRPC servicer, the event consumers and the delivery worker."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import httpx

from services.notify.api import NotifyApi
from services.notify.clients import build_senders
from services.notify.events import build_consumers
from services.notify.service import Clock, NotifyService, utcnow
from services.notify.worker import DeliveryWorker, WorkerOptions
from triage.notify.v1 import notify_service_pb2_grpc
from triage.runtime import (
    BatchConsumer,
    Bus,
    Database,
    Outbox,
    Runtime,
    SecretBox,
    Settings,
    guard_tenants,
    peer_directory,
)

SERVICE_NAME = "triage.notify.v1.NotifyService"


def secret_box(settings: Settings) -> SecretBox:
    """The AES-GCM box for channel secrets at rest, from settings."""
    key = settings.secrets_key.get_secret_value()
    if not key:
        raise RuntimeError("TRIAGE_SECRETS_KEY is required (32 random bytes, base64)")
    return SecretBox.from_config(
        key, [k.get_secret_value() for k in settings.secrets_previous_keys]
    )


@dataclass
class Notify:
    """Everything one notify process runs, built from its dependencies."""

    service: NotifyService
    api: NotifyApi
    worker: DeliveryWorker
    consumers: list[BatchConsumer]
    http: httpx.AsyncClient

    async def close(self) -> None:
        """Close the shared HTTP client."""
        await self.http.aclose()


def build(
    *,
    db: Database,
    bus: Bus,
    outbox: Outbox,
    box: SecretBox,
    clock: Clock = utcnow,
    options: WorkerOptions | None = None,
    tenant: str = "*",
    durable_suffix: str = "",
    batch_size: int = 256,
    max_deliveries: int = 10,
    fetch_timeout_seconds: float = 1.0,
) -> Notify:
    """Wire service, API, worker and consumers (tests narrow ``tenant`` and rename durables)."""
    http = httpx.AsyncClient(follow_redirects=False)
    senders = build_senders(http)
    worker = DeliveryWorker(
        db=db, outbox=outbox, box=box, senders=senders, clock=clock, options=options
    )
    service = NotifyService(
        db=db,
        outbox=outbox,
        box=box,
        senders=senders,
        wake=worker.wake,
        clock=clock,
        breaker=worker.options.breaker,
    )
    consumers = build_consumers(
        bus=bus,
        db=db,
        wake=worker.wake,
        clock=clock,
        tenant=tenant,
        durable_suffix=durable_suffix,
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )
    return Notify(service, NotifyApi(service), worker, consumers, http)


async def wire(rt: Runtime) -> None:
    """Register the servicer, consumers and worker with the runtime."""
    # Only registered, active tenants may call (ingest's registry, cached briefly).
    guard_tenants(rt, peer_directory(rt))
    notify = build(
        db=rt.db,
        bus=rt.bus,
        outbox=rt.outbox,
        box=secret_box(rt.settings),
        batch_size=rt.settings.consumer_batch_size,
        max_deliveries=rt.settings.consumer_max_deliveries,
    )
    rt.add_servicer(
        partial(notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, notify.api),
        [SERVICE_NAME],
    )
    rt.consumers.extend(notify.consumers)
    rt.tasks.append(notify.worker.run)
    rt.on_stop.append(notify.close)
