"""The mesh as the tools see it: its five services, their local ports, their event domains.

The runtime knows no service by name (each declares itself in its ``SPEC``); the dev stack,
the CLI, the benches and the tests that run the whole mesh take the list from here.
"""

from __future__ import annotations

SERVICE_NAMES = ("ingest", "rules", "tickets", "sla", "notify")
#: The documented local ports (``make run``): gRPC 50051.., metrics 9401...
DEFAULT_GRPC_PORTS = {name: 50051 + i for i, name in enumerate(SERVICE_NAMES)}
DEFAULT_METRICS_PORTS = {name: 9401 + i for i, name in enumerate(SERVICE_NAMES)}
#: Every event domain a service publishes (each has its stream, TRIAGE_<DOMAIN>).
EVENT_DOMAINS = ("tenant", "alert", "ticket", "sla", "notify")
