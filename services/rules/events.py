"""Subjects, durable names and consumers of the rules service, and ``alert.routed`` built
from a decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.convert.alerts import decision, incoming
from services.rules.convert.correlation import correlation_block
from services.rules.domain.received import IncomingAlert, RoutingCause, canonical
from services.rules.domain.views import Evaluation
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.rules.v1 import events_pb2
from triage.runtime import (
    BatchConsumer,
    BatchHandler,
    Bus,
    Inbox,
    ReceivedEvent,
    Settings,
    extract_context,
    from_timestamp,
    new_envelope,
    transactional_handler,
    unpack,
)

if TYPE_CHECKING:
    from services.rules.service import RulesService

ALERT_RECEIVED_SUBJECT = "triage.alert.received.>"
TENANT_CHANGED_SUBJECT = "triage.tenant.changed.>"
ALERT_DURABLE = "rules-alert-received"
TENANT_DURABLE = "rules-tenant-changed"
PRODUCER = "rules"
ROUTED = "alert.routed"
_CAUSES = {
    "alert_received": events_pb2.ROUTING_CAUSE_ALERT_RECEIVED,
    "window_ended": events_pb2.ROUTING_CAUSE_WINDOW_ENDED,
}
_tracer = trace.get_tracer("triage.consume")


def alert_routed(alert: bytes, evaluation: Evaluation, cause: RoutingCause) -> Envelope:
    """The ``alert.routed`` envelope of one decision on the serialized ``alert``.

    A correlated alert carries its correlation and is keyed by its group key, so every
    member of one group reaches tickets in one partition, in order; any other alert is
    keyed by its series."""
    routed = events_pb2.AlertRouted(
        decision=decision(evaluation),
        rule_set_version=evaluation.decision.rule_set_version,
        cause=_CAUSES[cause],
    )
    routed.alert.MergeFromString(alert)
    key = routed.alert.series_key
    if evaluation.correlation is not None:
        routed.correlation.CopyFrom(correlation_block(evaluation.correlation))
        key = evaluation.correlation.group_key
    return new_envelope(
        tenant_id=routed.alert.tenant_id,
        event_type=ROUTED,
        payload=routed,
        producer=PRODUCER,
        ordering_key=key,
        occurred_at=evaluation.at,
    )


def alert_consumer(
    bus: Bus,
    service: RulesService,
    inbox: Table,
    *,
    batch_size: int = 256,
    max_deliveries: int = 10,
    fetch_timeout_seconds: float = 1.0,
) -> BatchConsumer:
    """The durable consumer that routes every ``alert.received`` (one transaction a batch)."""

    return BatchConsumer(
        bus,
        service.db,
        service="rules",
        durable=ALERT_DURABLE,
        filter_subjects=[ALERT_RECEIVED_SUBJECT],
        handler=alert_batch_handler(service, Inbox(inbox, ALERT_DURABLE)),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )


def alert_batch_handler(service: RulesService, inbox: Inbox) -> BatchHandler:
    """Route a batch of ``alert.received`` in one transaction, in set-based steps.

    Like :func:`transactional_handler` (one transaction, the inbox skips redeliveries, one
    ``handle`` span per event continuing its alert's trace) but with the batch's tenant set
    bound once, one inbox claim, one decision insert, one series lock and upsert and one
    outbox insert for the whole batch.
    """

    async def handle_batch(events: Sequence[ReceivedEvent]) -> None:
        batch = trace.get_current_span().get_span_context()
        many = len(events) > 1
        links = [trace.Link(batch)] if batch.is_valid and many else []
        contexts = [extract_context(e.headers) if many else None for e in events]
        spans = [
            _tracer.start_span(
                f"handle {event.type}",
                context=context,
                kind=trace.SpanKind.CONSUMER,
                links=links,
                attributes={"triage.event_id": event.event_id},
            )
            for event, context in zip(events, contexts, strict=True)
        ]
        try:
            if many:
                await route(events, spans, contexts)
            else:
                # A batch of one: its SQL runs in its own handling span, as before.
                with trace.use_span(
                    spans[0], record_exception=False, set_status_on_exception=False
                ):
                    await route(events, spans, contexts)
        except Exception as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            for span in spans:
                span.end()

    async def route(
        events: Sequence[ReceivedEvent],
        spans: Sequence[trace.Span],
        contexts: Sequence[Context | None],
    ) -> None:
        # The first delivery of an event id in the batch counts; a repeat is a redelivery.
        received: dict[str, IncomingAlert] = {}
        for event, span, context in zip(events, spans, contexts, strict=True):
            event_id = canonical(event.event_id)
            if event_id in received:
                continue
            alert = unpack(event.envelope, ingest_events.AlertReceived).alert
            alert.tenant_id = event.tenant_id
            # Each alert.routed continues its own alert's trace, from its handling span.
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span, context))
            received[event_id] = incoming(event_id, alert, carrier)
        batch = list(received.values())
        tenants = [r.alert.tenant_id for r in batch]
        async with service.routing.transaction(tenants) as (session, settings):
            await service.routing.route(session, batch, inbox=inbox, settings=settings)

    return handle_batch


def tenant_consumer(
    bus: Bus, service: RulesService, inbox: Table, *, fetch_timeout_seconds: float = 1.0
) -> BatchConsumer:
    """The durable consumer that keeps each tenant's time zone (``tenant.changed``)."""

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        changed = unpack(event.envelope, ingest_events.TenantChanged)
        if not changed.tenant.time_zone:
            return
        await service.tenants.set_time_zone(
            session,
            tenant_id=event.tenant_id,
            time_zone=changed.tenant.time_zone,
            changed_at=from_timestamp(event.envelope.occurred_time),
        )

    return BatchConsumer(
        bus,
        service.db,
        service="rules",
        durable=TENANT_DURABLE,
        filter_subjects=[TENANT_CHANGED_SUBJECT],
        handler=transactional_handler(service.db, Inbox(inbox, TENANT_DURABLE), handle),
        fetch_timeout_seconds=fetch_timeout_seconds,
    )


def consumers(
    bus: Bus, service: RulesService, settings: Settings, inbox: Table
) -> list[BatchConsumer]:
    """Every consumer of the service, configured from ``settings``, claiming in ``inbox``."""
    return [
        alert_consumer(
            bus,
            service,
            inbox,
            batch_size=settings.consumer_batch_size,
            max_deliveries=settings.consumer_max_deliveries,
        ),
        tenant_consumer(bus, service, inbox),
    ]
