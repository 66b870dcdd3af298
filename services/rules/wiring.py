"""Builds the rules service from the runtime: servicer, consumers, window-end task."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from services.rules import models
from services.rules.api import SERVICE_NAME, RulesApi
from services.rules.convert.decoder import ProtoDecoder
from services.rules.events import consumers
from services.rules.service import RulesService
from services.rules.service.clock import Clock, SystemClock
from services.rules.store.tenant_data import TENANT_DATA
from services.rules.workers.window_ends import WindowEnds
from triage.rules.v1.rules_service_pb2_grpc import add_RulesServiceServicer_to_server
from triage.runtime import Runtime, ServiceSpec, guard_tenants, offboard, peer_directory


def build(rt: Runtime, clock: Clock) -> RulesService:
    """Register the servicer, consumers and window-end task; return the service."""
    service = RulesService(
        db=rt.db,
        outbox=rt.outbox,
        clock=clock,
        decoder=ProtoDecoder(),
        references=peer_directory(rt),
    )
    rt.add_servicer(partial(add_RulesServiceServicer_to_server, RulesApi(service)), [SERVICE_NAME])
    rt.consumers.extend(consumers(rt.bus, service, rt.settings, models.inbox))
    rt.tasks.append(WindowEnds(service.window_ends, clock, service.windows_changed).run)
    return service


async def wire(rt: Runtime) -> None:
    """Wire the rules service on the real clock; only registered, active tenants may call."""
    build(rt, SystemClock())
    guard_tenants(rt, peer_directory(rt))
    # Export and deletion of a tenant's rows (offboarding, driven by ingest's events).
    offboard(rt, TENANT_DATA)


#: What the runtime needs to know of rules: ``python -m services.rules`` runs it.
SPEC = ServiceSpec(
    name="rules",
    schema=models.SCHEMA,
    outbox=models.outbox,
    wire=wire,
    migrations=Path(__file__).parent / "migrations",
    grpc_port=50052,
    metrics_port=9402,
    publishes=("alert", "tenant"),
    consumes=("alert", "tenant"),
    peers=("ingest", "notify"),
)
