"""e2e fixtures: one OTLP collector per session, one whole mesh (as processes) per module.

Each module's stack is started by the launcher behind ``make run`` (``start_stack``) on
free ports, reusing the session's PostgreSQL and NATS (``DATABASE_URL``/``NATS_URL`` in
its environment make it start neither) and exporting traces to the collector.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

# The dev-stack supervisor forks (preexec_fn) while this process has gRPC threads busy (the
# collector, the test's channels); with gRPC's fork handlers on, a child can abort before
# exec ("epoll_wait error: Bad file descriptor", exit -6). Read by gRPC at its first use.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

from tests.e2e.harness import Collector, Mesh
from triage.devstack.endpoints import Ports
from triage.devstack.stack import start_stack


@pytest.fixture(scope="session")
async def collector() -> AsyncIterator[Collector]:
    """The local OTLP/gRPC trace collector every stack exports to."""
    server = Collector()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="module")
async def mesh(
    pg_url: str,
    nats_url: str,
    collector: Collector,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Mesh]:
    """The five services as processes under the dev-stack supervisor, no demo seed."""
    data_dir = tmp_path_factory.mktemp("stack")
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "NATS_URL": nats_url,
        "TRIAGE_OTLP_ENDPOINT": collector.endpoint,
        # Export finished spans within ~0.2 s rather than the SDK's default 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with (data_dir / "stack.log").open("w") as log:
        async with (
            start_stack(data_dir, seed=False, env=env, ports=Ports.free(), output=log) as stack,
            Mesh.open(stack) as running,
        ):
            yield running
