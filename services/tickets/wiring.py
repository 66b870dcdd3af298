"""Builds the tickets service from the runtime: servicer, consumers."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from services.tickets import models
from services.tickets.api import SERVICE_NAME, TicketsApi
from services.tickets.events import alert_consumer, sla_consumer
from services.tickets.service import TicketService
from services.tickets.store.tenant_data import TENANT_DATA
from services.tickets.workers.flap_settle import run_flap_settle
from services.tickets.workers.series_log_retention import run_series_log_retention
from triage.runtime import Runtime, ServiceSpec, guard_tenants, offboard, peer_directory
from triage.tickets.v1.tickets_service_pb2_grpc import add_TicketsServiceServicer_to_server


async def wire(rt: Runtime) -> None:
    """Register the TicketsService servicer and the alert and SLA consumers."""
    # Only registered, active tenants may call (ingest's registry, cached briefly).
    guard_tenants(rt, peer_directory(rt))
    # Export and deletion of a tenant's rows (offboarding, driven by ingest's events).
    offboard(rt, TENANT_DATA)
    service = TicketService(rt.db, rt.outbox)
    rt.add_servicer(
        partial(add_TicketsServiceServicer_to_server, TicketsApi(service)), [SERVICE_NAME]
    )
    options = {
        "batch_size": rt.settings.consumer_batch_size,
        "max_deliveries": rt.settings.consumer_max_deliveries,
    }
    rt.consumers.append(alert_consumer(rt.bus, rt.db, models.inbox, service, **options))
    rt.consumers.append(sla_consumer(rt.bus, rt.db, models.inbox, service.on_escalation, **options))
    rt.tasks.append(partial(run_series_log_retention, rt.db))
    # Flap damping: close flapping tickets once their alert has been quiet (issue 18).
    rt.tasks.append(partial(run_flap_settle, service))


#: What the runtime needs to know of tickets: ``python -m services.tickets`` runs it.
SPEC = ServiceSpec(
    name="tickets",
    schema=models.SCHEMA,
    outbox=models.outbox,
    wire=wire,
    migrations=Path(__file__).parent / "migrations",
    grpc_port=50053,
    metrics_port=9403,
    publishes=("ticket", "tenant"),
    consumes=("alert", "sla", "tenant"),
    peers=("ingest",),
)
