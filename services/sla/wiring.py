"""Builds the sla service on the shared runtime: servicer, consumers, scheduler."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from services.sla import events, models
from services.sla.api import SERVICE_NAME, SlaApi
from services.sla.models import inbox
from services.sla.service import SlaService
from services.sla.service.time import SystemTime, TimeSource
from services.sla.store.tenant_data import TENANT_DATA
from services.sla.workers.timers import Scheduler
from triage.runtime import Runtime, ServiceSpec, guard_tenants, offboard, peer_directory
from triage.sla.v1.sla_service_pb2_grpc import add_SlaServiceServicer_to_server


def build(rt: Runtime, *, time: TimeSource | None = None) -> tuple[SlaService, Scheduler]:
    """The service and its scheduler, with consumers and tasks registered on ``rt``."""
    service = SlaService(
        db=rt.db, outbox=rt.outbox, time=time or SystemTime(), references=peer_directory(rt)
    )
    access = rt.authority.access
    # A suspended tenant's timers wait (a deleted one's never fire); a resumption wakes it.
    scheduler = Scheduler(service, paused=access.barred_now if access else frozenset)
    if access is not None:
        access.on_tenant_change.append(lambda _tenant: scheduler.wake())
    rt.add_servicer(partial(add_SlaServiceServicer_to_server, SlaApi(service)), [SERVICE_NAME])
    rt.consumers.append(
        events.ticket_consumer(
            rt.bus,
            rt.db,
            inbox,
            service.on_ticket_changes,
            batch_size=rt.settings.consumer_batch_size,
            max_deliveries=rt.settings.consumer_max_deliveries,
        )
    )
    rt.consumers.append(events.tenant_consumer(rt.bus, rt.db, inbox, service.on_tenant_zone))
    rt.tasks.append(scheduler.run)
    return service, scheduler


async def wire(rt: Runtime) -> None:
    """The runtime's wiring hook for the sla service; only registered, active tenants may call."""
    build(rt)
    guard_tenants(rt, peer_directory(rt))
    # Export and deletion of a tenant's rows (offboarding, driven by ingest's events).
    offboard(rt, TENANT_DATA)


#: What the runtime needs to know of sla: ``python -m services.sla`` runs it.
SPEC = ServiceSpec(
    name="sla",
    schema=models.SCHEMA,
    outbox=models.outbox,
    wire=wire,
    migrations=Path(__file__).parent / "migrations",
    grpc_port=50054,
    metrics_port=9404,
    publishes=("sla", "tenant"),
    consumes=("ticket", "tenant"),
    peers=("ingest", "notify"),
)
