"""Subjects, durable names and consumers of the rules service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.models import inbox
from services.rules.service import RulesService
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.runtime.bus import BatchConsumer, Bus
from triage.runtime.config import Settings
from triage.runtime.consume import transactional_handler
from triage.runtime.events import ReceivedEvent, from_timestamp, unpack
from triage.runtime.outbox import Inbox

ALERT_RECEIVED_SUBJECT = "triage.alert.received.>"
TENANT_CHANGED_SUBJECT = "triage.tenant.changed.>"
ALERT_DURABLE = "rules-alert-received"
TENANT_DURABLE = "rules-tenant-changed"


def alert_consumer(
    bus: Bus,
    service: RulesService,
    *,
    batch_size: int = 256,
    max_deliveries: int = 10,
    fetch_timeout_seconds: float = 1.0,
) -> BatchConsumer:
    """The durable consumer that routes every ``alert.received`` (one transaction a batch)."""

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        received = unpack(event.envelope, ingest_events.AlertReceived)
        alert = received.alert
        alert.tenant_id = event.tenant_id
        await service.route_received(session, alert)

    return BatchConsumer(
        bus,
        service="rules",
        durable=ALERT_DURABLE,
        filter_subjects=[ALERT_RECEIVED_SUBJECT],
        handler=transactional_handler(service.db, Inbox(inbox, ALERT_DURABLE), handle),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )


def tenant_consumer(
    bus: Bus, service: RulesService, *, fetch_timeout_seconds: float = 1.0
) -> BatchConsumer:
    """The durable consumer that keeps each tenant's time zone (``tenant.changed``)."""

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        changed = unpack(event.envelope, ingest_events.TenantChanged)
        if not changed.tenant.time_zone:
            return
        await service.set_time_zone(
            session,
            tenant_id=event.tenant_id,
            time_zone=changed.tenant.time_zone,
            changed_at=from_timestamp(event.envelope.occurred_time),
        )

    return BatchConsumer(
        bus,
        service="rules",
        durable=TENANT_DURABLE,
        filter_subjects=[TENANT_CHANGED_SUBJECT],
        handler=transactional_handler(service.db, Inbox(inbox, TENANT_DURABLE), handle),
        fetch_timeout_seconds=fetch_timeout_seconds,
    )


def consumers(bus: Bus, service: RulesService, settings: Settings) -> list[BatchConsumer]:
    """Every consumer of the service, configured from ``settings``."""
    return [
        alert_consumer(
            bus,
            service,
            batch_size=settings.consumer_batch_size,
            max_deliveries=settings.consumer_max_deliveries,
        ),
        tenant_consumer(bus, service),
    ]
