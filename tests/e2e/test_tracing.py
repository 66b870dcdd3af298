"""One trace per alert, exported over OTLP to a local collector.

The webhook's gateway span is the root; the outbox row carries its ``traceparent``; the
relay's producer span, the consumer span in the next service, that service's SQL and its
own outbox publish follow as children, hop after hop, up to the tickets service.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.e2e.harness import Collector, Mesh, SpanRecord, Tenant, eventually
from tests.e2e.providers import ninja_trigger

pytestmark = pytest.mark.e2e

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP SpanKind values
GATEWAY = "POST /v1/webhooks/{provider}/{integration_id}"


async def trace_of(collector: Collector, tenant: Tenant) -> str:
    """The trace id of the (only) alert this tenant sent, found by its publish span."""
    subject = f"triage.alert.received.{tenant.tenant_id}."  # then the series' key token

    async def find() -> str | None:
        for span in collector.spans:
            if str(span.attributes.get("messaging.destination.name")).startswith(subject):
                return span.trace_id
        return None

    return await eventually(find, timeout=15, what=f"a span publishing to {subject}")


def one(spans: list[SpanRecord], service: str, name: str, kind: int) -> SpanRecord:
    """The single span of ``service`` named ``name`` of ``kind``."""
    found = [s for s in spans if (s.service, s.name, s.kind) == (service, name, kind)]
    assert len(found) == 1, f"{service} {name}: {len(found)} spans in {[s.name for s in spans]}"
    return found[0]


def sql_under(spans: list[SpanRecord], parent: SpanRecord) -> list[SpanRecord]:
    """SQL client spans whose parent is ``parent``."""
    return [
        s
        for s in spans
        if s.parent_span_id == parent.span_id
        and s.kind == CLIENT
        and s.attributes.get("db.system") == "postgresql"
    ]


async def test_one_webhook_is_one_trace_from_gateway_to_tickets(
    mesh: Mesh, collector: Collector
) -> None:
    tenant = await mesh.new_tenant("e2e trace")
    await tenant.catch_all_rule()
    ninja = await tenant.integration("ninjaone")
    answer = await ninja.post(ninja_trigger(series="trace", device=1, activity_id=1, at=1.7e9))
    ticket = await tenant.wait_ticket((await tenant.alert(answer.alert_ids[0])).series_key)
    trace_id = await trace_of(collector, tenant)

    needed = {
        ("triage-ingest", GATEWAY),
        ("triage-ingest", "store alert batch"),
        ("triage-ingest", "publish alert.received"),
        ("triage-rules", "consume alert.received"),
        ("triage-rules", "publish alert.routed"),
        ("triage-tickets", "consume alert.routed"),
        ("triage-tickets", "publish ticket.opened"),
    }

    async def complete() -> list[SpanRecord] | None:
        # Children end (and are exported) before their parents: wait for a closed tree.
        spans = collector.trace(trace_id)
        have = {(s.service, s.name) for s in spans}
        ids = {s.span_id for s in spans}
        orphans = [s for s in spans if s.parent_span_id and s.parent_span_id not in ids]
        return spans if needed <= have and not orphans else None

    spans = await eventually(complete, timeout=15, what=f"trace {trace_id} complete")

    # The gateway span is the root; every other span's parent is in the same trace.
    gateway = one(spans, "triage-ingest", GATEWAY, SERVER)
    assert gateway.parent_span_id == ""
    assert gateway.attributes["triage.provider"] == "ninjaone"
    assert gateway.attributes["http.response.status_code"] == 202
    assert [s for s in spans if not s.parent_span_id] == [gateway]

    # ingest: the group commit and its SQL under the gateway span.
    store = one(spans, "triage-ingest", "store alert batch", 1)
    assert store.parent_span_id == gateway.span_id
    assert sql_under(spans, store), "no ingest SQL under 'store alert batch'"
    # The outbox row carried the request's traceparent to the relay's producer span.
    received = one(spans, "triage-ingest", "publish alert.received", PRODUCER)
    assert received.parent_span_id == gateway.span_id
    assert received.attributes["messaging.destination.name"].startswith(
        f"triage.alert.received.{tenant.tenant_id}."
    )

    # rules: consumes it, decides with SQL, publishes alert.routed from the same context.
    rules = one(spans, "triage-rules", "consume alert.received", CONSUMER)
    assert rules.parent_span_id == received.span_id
    rules_handle = one(spans, "triage-rules", "handle alert.received", CONSUMER)
    assert rules_handle.parent_span_id == rules.span_id
    rules_sql = sql_under(spans, rules) + sql_under(spans, rules_handle)
    assert {s.name for s in rules_sql} >= {"SELECT rules", "INSERT rules"}
    routed = one(spans, "triage-rules", "publish alert.routed", PRODUCER)
    assert routed.parent_span_id == rules_handle.span_id

    # tickets: consumes alert.routed, opens the ticket with SQL, announces it.
    tickets = one(spans, "triage-tickets", "consume alert.routed", CONSUMER)
    assert tickets.parent_span_id == routed.span_id
    tickets_handle = one(spans, "triage-tickets", "handle alert.routed", CONSUMER)
    assert tickets_handle.parent_span_id == tickets.span_id
    tickets_sql = sql_under(spans, tickets) + sql_under(spans, tickets_handle)
    assert {s.name for s in tickets_sql} >= {"SELECT tickets", "INSERT tickets"}
    opened = one(spans, "triage-tickets", "publish ticket.opened", PRODUCER)
    assert opened.parent_span_id == tickets_handle.span_id
    assert str(opened.attributes["messaging.destination.name"]).startswith(
        f"triage.ticket.opened.{tenant.tenant_id}."
    )
    assert ticket.occurrence_count == 1

    # No span of this trace belongs to another alert of this tenant.
    assert {s.trace_id for s in spans} == {trace_id}


async def test_a_callers_traceparent_is_continued(mesh: Mesh, collector: Collector) -> None:
    tenant = await mesh.new_tenant("e2e traceparent")
    await tenant.catch_all_rule()
    ninja = await tenant.integration("ninjaone")
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    await ninja.post(
        ninja_trigger(series="w3c", device=1, activity_id=1, at=1.7e9),
        traceparent=f"00-{caller_trace}-{caller_span}-01",
    )
    assert await trace_of(collector, tenant) == caller_trace
    gateway = await eventually(
        lambda: _first(collector, caller_trace, GATEWAY), what="gateway span of the caller's trace"
    )
    assert gateway.parent_span_id == caller_span


async def test_a_batched_consumer_links_every_alert_it_handled(
    mesh: Mesh, collector: Collector
) -> None:
    """Alerts waiting together are consumed as one batch whose span links to each of them."""
    tenant = await mesh.new_tenant("e2e batch")
    await tenant.catch_all_rule()
    ninja = await tenant.integration("ninjaone")
    rules_pid = mesh.stack.supervisor.pid("rules")
    assert rules_pid is not None
    subject = f"triage.alert.received.{tenant.tenant_id}."  # then the series' key token

    async def publishes() -> list[SpanRecord] | None:
        found = [
            s
            for s in collector.spans
            if str(s.attributes.get("messaging.destination.name")).startswith(subject)
        ]
        return found if len(found) == 3 else None

    # Stop rules until all three alerts wait in JetStream: whatever its pending fetch got,
    # the next fetch takes at least two of them at once.
    os.kill(rules_pid, signal.SIGSTOP)
    try:
        for n in range(3):
            await ninja.post(ninja_trigger(series=f"b{n}", device=n, activity_id=n, at=1.7e9))
        published = await eventually(publishes, what="three publish spans")
    finally:
        os.kill(rules_pid, signal.SIGCONT)
    await eventually(lambda: _tickets(tenant, 3), what="three tickets")

    async def consumed() -> list[SpanRecord] | None:
        spans = [s for s in collector.spans if s.service == "triage-rules" and s.kind == CONSUMER]
        out = []
        for publish in published:
            # Each alert's trace continues in rules: through the consumer span of a batch of
            # one, or through its own handling span inside a larger batch.
            match = [s for s in spans if s.parent_span_id == publish.span_id]
            if len(match) != 1:
                return None
            out.append(match[0])
        return out

    continued = await eventually(consumed, what="every alert's trace continued in rules")
    assert any(s.name == "handle alert.received" for s in continued), continued
    batches = [
        s
        for s in collector.spans
        if s.service == "triage-rules" and s.name == "consume batch rules-alert-received"
    ]
    assert batches
    for batch in batches:
        # A batch span starts its own trace and links every event it handled ...
        assert batch.parent_span_id == ""
        assert len(batch.links) == batch.attributes["messaging.batch.message_count"]
    for span in continued:
        if span.name == "handle alert.received":
            # ... and each event's handling links back to the batch.
            assert {link[1] for link in span.links} & {b.span_id for b in batches}
        else:
            assert span.name == "consume alert.received"


async def _first(collector: Collector, trace_id: str, name: str) -> SpanRecord | None:
    return next((s for s in collector.trace(trace_id) if s.name == name), None)


async def _tickets(tenant: Tenant, count: int) -> bool:
    return len(await tenant.list_tickets()) == count
