"""Outbound resets: clear an alert in the RMM once the ticket it opened is closed."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import Table

from services.ingest.clients.resets import default_clients
from services.ingest.events import ticket_closed_consumer
from services.ingest.service.resets import ResetRequests
from services.ingest.workers.reset_settings import OutboundSettings
from services.ingest.workers.resets import ResetWorker
from triage.runtime import BatchConsumer, Runtime, SecretBox


def outbound_reset(
    rt: Runtime, box: SecretBox, inbox: Table, settings: OutboundSettings | None = None
) -> tuple[BatchConsumer, Callable[[], Coroutine[Any, Any, None]]]:
    """The ``ticket.closed`` consumer (claiming in ``inbox``) and the reset worker's task,
    built from the runtime."""
    options = settings or OutboundSettings()
    clients = default_clients()
    worker = ResetWorker(
        db=rt.db,
        outbox=rt.outbox,
        box=box,
        clients=clients,
        policy=options.policy(),
        http_timeout_seconds=options.http_timeout_seconds,
        idle_seconds=options.idle_seconds,
    )
    requests = ResetRequests(outbox=rt.outbox, clients=clients, wake=worker.wake)
    consumer = ticket_closed_consumer(
        rt.bus,
        rt.db,
        inbox,
        requests.on_ticket_closed,
        batch_size=rt.settings.consumer_batch_size,
        max_deliveries=rt.settings.consumer_max_deliveries,
    )
    return consumer, worker.run
