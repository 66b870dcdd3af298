"""Builds the notify process: the gRPC servicer, the event consumers and the background
loops (deliveries, retention)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from services.notify import models
from services.notify.api import NotifyApi
from services.notify.clients import build_senders
from services.notify.convert.settings import channel_settings
from services.notify.events import build_consumers
from services.notify.service.channels import Channels
from services.notify.service.common import Clock, utcnow
from services.notify.service.deliveries import Deliveries
from services.notify.service.jobs import WorkerOptions
from services.notify.service.policies import Policies
from services.notify.store.tenant_data import TENANT_DATA
from services.notify.workers.deliveries import DeliveryWorker
from services.notify.workers.retention import run_retention
from triage.notify.v1 import notify_service_pb2_grpc
from triage.runtime import (
    BatchConsumer,
    Bus,
    Database,
    Outbox,
    Runtime,
    SecretBox,
    ServiceSpec,
    Settings,
    guard_tenants,
    offboard,
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

    api: NotifyApi
    worker: DeliveryWorker
    consumers: list[BatchConsumer]
    http: httpx.AsyncClient
    retention: Callable[[], Coroutine[Any, Any, None]]

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
        db=db,
        outbox=outbox,
        box=box,
        senders=senders,
        settings=channel_settings,
        clock=clock,
        options=options,
    )
    channels = Channels(
        db=db,
        box=box,
        senders=senders,
        wake=worker.wake,
        clock=clock,
        breaker=worker.options.breaker,
    )
    api = NotifyApi(channels, Policies(db=db), Deliveries(db=db, wake=worker.wake, clock=clock))
    consumers = build_consumers(
        bus=bus,
        db=db,
        inbox=models.inbox,
        wake=worker.wake,
        clock=clock,
        tenant=tenant,
        durable_suffix=durable_suffix,
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )
    retention = partial(
        run_retention,
        db,
        clock=clock,
        retention=worker.options.retention,
        every_seconds=worker.options.cleanup_interval_seconds,
    )
    return Notify(api, worker, consumers, http, retention)


async def wire(rt: Runtime) -> None:
    """Register the servicer, consumers and worker with the runtime."""
    # Only registered, active tenants may call (ingest's registry, cached briefly).
    guard_tenants(rt, peer_directory(rt))
    # Export and deletion of a tenant's rows (offboarding, driven by ingest's events).
    offboard(rt, TENANT_DATA)
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
    if (access := rt.authority.access) is not None:
        # A suspended tenant's deliveries wait (a deleted one's never go); resuming wakes it.
        notify.worker.claims.paused = access.barred_now
        access.on_tenant_change.append(lambda _tenant: notify.worker.wake())
    rt.consumers.extend(notify.consumers)
    rt.tasks.append(notify.worker.run)
    rt.tasks.append(notify.retention)
    rt.on_stop.append(notify.close)


#: What the runtime needs to know of notify: ``python -m services.notify`` runs it.
SPEC = ServiceSpec(
    name="notify",
    schema=models.SCHEMA,
    outbox=models.outbox,
    wire=wire,
    migrations=Path(__file__).parent / "migrations",
    grpc_port=50055,
    metrics_port=9405,
    publishes=("notify", "tenant"),
    consumes=("alert", "ticket", "sla", "tenant"),
    peers=("ingest",),
)
