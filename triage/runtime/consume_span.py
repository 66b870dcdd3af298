"""The span around one call of a consumer's handler."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace

from triage.runtime.events import ReceivedEvent
from triage.runtime.telemetry import extract_context

tracer = trace.get_tracer("triage.bus")


def consume_span(durable: str, events: Sequence[ReceivedEvent]) -> AbstractContextManager[Any]:
    """A lone event's span continues its trace; a batch's span links every event's."""
    if len(events) == 1:
        return tracer.start_as_current_span(
            f"consume {events[0].type}",
            context=extract_context(events[0].headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.consumer": durable},
        )
    links = [
        trace.Link(ctx)
        for e in events
        if (ctx := trace.get_current_span(extract_context(e.headers)).get_span_context()).is_valid
    ]
    return tracer.start_as_current_span(
        f"consume batch {durable}",
        links=links,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.batch.message_count": len(events)},
    )
