"""Prometheus metrics shared by the runtime, and the ``/metrics`` endpoint."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

RPC_LATENCY = Histogram(
    "triage_grpc_server_handling_seconds",
    "gRPC server handling time",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS_PUBLISHED = Counter(
    "triage_events_published_total", "Events published from the outbox", ["service", "type"]
)
EVENTS_CONSUMED = Counter(
    "triage_events_consumed_total",
    "Events handled by consumers",
    ["service", "consumer", "outcome"],
)
CONSUMER_BATCH = Histogram(
    "triage_consumer_batch_events",
    "Events per fetched batch",
    ["service", "consumer"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
CONSUMER_BATCH_SECONDS = Histogram(
    "triage_consumer_batch_seconds",
    "Time to handle one batch (its transaction, commit and acks)",
    ["service", "consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
OUTBOX_LAG = Histogram(
    "triage_outbox_publish_lag_seconds",
    "Time from outbox commit to JetStream publish acknowledgement",
    ["service"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
)


def serve_metrics(host: str, port: int) -> None:
    """Expose ``/metrics`` on ``host:port`` in a daemon thread (port 0 disables it)."""
    if port:
        start_http_server(port, addr=host)
