"""Builds the ingest process: gRPC servicers, the alert writer and the HTTP gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from pathlib import Path

import uvicorn

from services.ingest import models
from services.ingest.api import IngestApi, TenantApi
from services.ingest.domain.deletions import DELETION_ORDER
from services.ingest.events import suppression_consumer
from services.ingest.gateway.asgi import Gateway
from services.ingest.models import inbox
from services.ingest.service import IngestService
from services.ingest.service.offboarding import TenantDeletions
from services.ingest.service.standing import local_standing
from services.ingest.store.alerts import mark_suppression
from services.ingest.store.health import ping
from services.ingest.store.tenant_data import TENANT_DATA
from services.ingest.workers.access_sync import AccessSyncWorker
from services.ingest.workers.alert_writer import AlertWriter
from services.ingest.workers.outbound import outbound_reset
from services.ingest.workers.polls import PollWorker
from services.ingest.workers.silence import SilenceWorker
from triage.ingest.v1 import ingest_service_pb2_grpc, tenant_service_pb2_grpc
from triage.runtime import (
    AccessPublisher,
    Runtime,
    SecretBox,
    ServiceSpec,
    TenantGate,
    coordinate_deletions,
    offboard,
)

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service runner owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


def secret_box(rt: Runtime) -> SecretBox:
    """The AES-GCM box for secrets at rest, from settings."""
    key = rt.settings.secrets_key.get_secret_value()
    if not key:
        raise RuntimeError("TRIAGE_SECRETS_KEY is required (32 random bytes, base64)")
    return SecretBox.from_config(
        key, [k.get_secret_value() for k in rt.settings.secrets_previous_keys]
    )


async def wire(rt: Runtime) -> None:
    """Register servicers, the writer loops and the gateway server with the runtime."""
    # Tokens of unknown or suspended tenants are refused (ingest owns the registry).
    gate = TenantGate(local_standing(rt.db))
    rt.authority.tenant_gate = gate
    writer = AlertWriter(db=rt.db, outbox=rt.outbox)
    service = IngestService(db=rt.db, outbox=rt.outbox, writer=writer, box=secret_box(rt))
    # ingest mirrors revocations and suspensions to every service, and checks them itself.
    service.publisher = AccessPublisher(rt.bus.js)
    service.access = rt.authority.access
    if service.access is not None:
        service.access.on_tenant_change.append(gate.forget)
    rt.add_servicer(
        partial(
            ingest_service_pb2_grpc.add_IngestServiceServicer_to_server,
            IngestApi(service, public_url=rt.settings.public_url),
        ),
        ["triage.ingest.v1.IngestService"],
    )
    rt.add_servicer(
        partial(
            tenant_service_pb2_grpc.add_TenantServiceServicer_to_server,
            TenantApi(service, rt.authority),
        ),
        ["triage.ingest.v1.TenantService"],
    )

    async def ready() -> bool:
        if not rt.bus.nc.is_connected:
            return False
        try:
            async with asyncio.timeout(2):
                await ping(rt.db)
        except Exception:
            return False
        return True

    gateway = Gateway(service, ready=ready)
    server = _EmbeddedServer(
        uvicorn.Config(
            gateway,
            host=rt.settings.http_host,
            port=rt.settings.http_port,
            http="httptools",
            loop="none",
            lifespan="off",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=int(rt.settings.shutdown_grace_seconds),
        )
    )

    http_done = asyncio.Event()

    async def serve_http() -> None:
        try:
            await server.serve()
        finally:
            http_done.set()

    async def stop_http() -> None:
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(http_done.wait(), rt.settings.shutdown_grace_seconds + 1)

    rt.tasks.append(writer.run)
    rt.tasks.append(serve_http)
    reset_consumer, reset_worker = outbound_reset(rt, service.box, inbox)
    rt.consumers.append(reset_consumer)
    rt.consumers.append(suppression_consumer(rt.bus, rt.db, inbox, mark_suppression))
    rt.tasks.append(reset_worker)
    rt.tasks.append(PollWorker(service=service).run)
    rt.tasks.append(SilenceWorker(service=service).run)
    rt.tasks.append(AccessSyncWorker(service=service).run)
    # Offboarding: export and delete of ingest's rows, and the deletion across the mesh.
    deletions = TenantDeletions(db=rt.db, outbox=rt.outbox, forget=gate.forget)
    offboard(rt, TENANT_DATA)
    coordinate_deletions(rt, deletions, deletions.data_deleted, DELETION_ORDER)
    rt.on_stop.insert(0, stop_http)


#: What the runtime needs to know of ingest: ``python -m services.ingest`` runs it.
SPEC = ServiceSpec(
    name="ingest",
    schema=models.SCHEMA,
    outbox=models.outbox,
    wire=wire,
    migrations=Path(__file__).parent / "migrations",
    grpc_port=50051,
    metrics_port=9401,
    publishes=("tenant", "alert"),
    consumes=("ticket", "alert", "tenant"),
)
