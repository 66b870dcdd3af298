"""Every RPC of every service, every field, each bad value alone (generated from descriptors).

Out-of-range Timestamps and Durations, undefined enum numbers, 1 MB strings and keys, NUL
characters, negative and maximal integers, 20,000-item lists: the answer is never INTERNAL,
UNKNOWN or a hang (each call has a 5 s deadline), never echoes the value at length, and is
INVALID_ARGUMENT with field violations whenever the contract itself rules the value out.
"""

from __future__ import annotations

import pytest

from tests.integration.contracts.answers import problems
from tests.integration.contracts.mesh import SERVES, Mesh
from tests.integration.contracts.walk import cases
from triage.audit.v1 import audit_pb2
from triage.ingest.v1 import ingest_service_pb2, tenant_service_pb2
from triage.notify.v1 import notify_service_pb2
from triage.rules.v1 import rules_service_pb2
from triage.sla.v1 import sla_service_pb2
from triage.tenancy.v1 import offboarding_pb2
from triage.tickets.v1 import tickets_service_pb2

pytestmark = pytest.mark.integration

FILES = (
    ingest_service_pb2,
    tenant_service_pb2,
    rules_service_pb2,
    tickets_service_pb2,
    sla_service_pb2,
    notify_service_pb2,
    audit_pb2,
    offboarding_pb2,
)
SERVICES = {s.full_name: s for f in FILES for s in f.DESCRIPTOR.services_by_name.values()}


def test_every_served_service_is_walked() -> None:
    """The walk covers every gRPC service the mesh serves (a new one cannot be missed)."""
    assert set(SERVICES) == set(SERVES)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_bad_values_never_fail_the_server(running: Mesh, service: str) -> None:
    """Each generated bad request gets a caller's error, never a server fault."""
    failures: list[str] = []
    sent = 0
    for method in SERVICES[service].methods:
        for case in cases(method):
            error = await running.send(case.rpc, case.request, timeout=5.0)
            sent += 1
            failures += [f"{case}: {p}" for p in problems(error, contract=case.contract)]
    assert sent > 0
    assert not failures, f"{len(failures)} of {sent} bad requests:\n" + "\n".join(failures[:40])
