"""The mesh as Kubernetes runs it: several replicas of every service, same environment.

3 replicas of rules and tickets, 2 of ingest, sla and notify (the extra ones started with
the stack's own environment, only their ports changed). Series trigger, repeat, reset and
re-fire, every webhook is delivered twice, through both gateways, many series at once;
each series must end with exactly its tickets, occurrence counts and closes. Then the
same while one tickets replica is SIGKILLed and another SIGTERMed mid-stream.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import httpx
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.harness import Integration, Mesh, Tenant, eventually
from tests.e2e.providers import ninja_reset, ninja_trigger
from triage.devstack._util import free_ports
from triage.devstack.stack import service_argv
from triage.tickets.v1 import resources_pb2 as tickets_pb

pytestmark = pytest.mark.e2e

#: Extra replicas beyond the stack's one of each: 3 of rules and tickets, 2 of the rest.
EXTRA = {"rules": 2, "tickets": 2, "ingest": 1, "sla": 1, "notify": 1}
GROUPS = {"rules": "rules-alert-received", "tickets": "tickets-alert-routed"}


@dataclass
class Replicas:
    """The extra replicas: each one's supervisor name and gRPC address; extra gateways."""

    grpc: dict[str, str] = field(default_factory=dict)
    gateways: list[str] = field(default_factory=list)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def _serving(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1.0
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def _members(mesh: Mesh, schema: str, group: str) -> int:
    """Replicas holding at least one partition of ``group``."""
    async with await psycopg.AsyncConnection.connect(_libpq(mesh.stack.database_url)) as conn:
        cur = await conn.execute(
            # A lease lasts while its expiry or its owner's membership does.
            f"SELECT count(DISTINCT owner) FROM {schema}.consumer_leases l "
            "WHERE consumer = %s AND owner IS NOT NULL AND (expires_at > now() OR EXISTS ("
            f"SELECT 1 FROM {schema}.consumer_members m WHERE m.consumer = l.consumer "
            "AND m.member = l.owner AND m.expires_at > now()))",
            (group,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module")
async def replicas(mesh: Mesh) -> Replicas:
    """Start the extra replicas and wait until they serve and share the partitions."""
    out = Replicas()
    supervisor = mesh.stack.supervisor
    for name, count in EXTRA.items():
        for n in range(2, 2 + count):
            grpc_port, metrics_port, http_port = free_ports(3)
            env = mesh.stack.service_env(name)
            env["TRIAGE_GRPC_PORT"] = str(grpc_port)
            env["TRIAGE_METRICS_PORT"] = str(metrics_port)
            if name == "ingest":
                env["TRIAGE_HTTP_PORT"] = str(http_port)
                out.gateways.append(f"http://127.0.0.1:{http_port}")
            key = f"{name}-{n}"
            await supervisor.start(key, service_argv(name), env=env, restart=False)
            out.grpc[key] = f"127.0.0.1:{grpc_port}"
    for key, address in out.grpc.items():

        async def serving(a: str = address) -> bool:
            return await _serving(a)

        await eventually(serving, timeout=90, what=f"{key} serving")
    for service, group in GROUPS.items():
        want = 1 + EXTRA[service]

        async def shared(s: str = service, g: str = group, w: int = want) -> bool:
            return await _members(mesh, s, g) == w

        await eventually(shared, timeout=60, what=f"{group} shared by {want}")
    return out


@dataclass
class Series:
    """One alert series' script: ``first`` triggers, a reset, ``again`` re-fires, and a
    final reset if ``closes_again``."""

    name: str
    device: int
    first: int
    again: int
    closes_again: bool

    def bodies(self, t0: float, ids: list[int]) -> list[bytes]:
        """The webhooks, in the order the RMM sends them."""
        out: list[bytes] = []
        at = t0

        def step(maker: Callable[..., bytes]) -> None:
            nonlocal at
            at += 10
            ids[0] += 1
            out.append(maker(series=self.name, device=self.device, activity_id=ids[0], at=at))

        for _ in range(self.first):
            step(ninja_trigger)
        step(ninja_reset)
        for _ in range(self.again):
            step(ninja_trigger)
        if self.again and self.closes_again:
            step(ninja_reset)
        return out

    def expected(self) -> list[tuple[int, bool]]:
        """(occurrences, closed) of each ticket, oldest first."""
        tickets = [(self.first, True)]
        if self.again:
            tickets.append((self.again, self.closes_again))
        return tickets


def script(prefix: str, count: int, seed: int) -> list[Series]:
    """``count`` series with a seeded mix of repeats, resets and re-fires."""
    rng = random.Random(seed)
    return [
        Series(f"{prefix}{i}", 1000 + i, rng.randint(1, 3), rng.randint(0, 2), rng.random() < 0.5)
        for i in range(count)
    ]


async def send_all(
    integration: Integration, gateways: list[str], series: list[Series], *, seed: int
) -> AsyncIterator[int]:
    """Post every series' webhooks, each twice through alternating gateways; one series'
    webhooks in order, the series interleaved at random by 16 senders. Yields the count
    of webhooks sent as it goes (so a caller can act mid-stream)."""
    rng = random.Random(seed)
    t0 = time.time() - 3600
    ids = [seed * 100_000]
    queues = [s.bodies(t0, ids) for s in series]
    total = sum(len(q) for q in queues)
    sent = 0
    progress: asyncio.Queue[int] = asyncio.Queue()
    clients = [httpx.AsyncClient(base_url=g, timeout=30) for g in gateways]

    async def post(body: bytes, client: httpx.AsyncClient) -> None:
        reply = await client.post(
            f"/v1/webhooks/ninjaone/{integration.id}",
            content=body,
            headers={"content-type": "application/json", "x-triage-secret": integration.secret},
        )
        assert reply.status_code == 202, reply.text

    async def sender(mine: list[list[bytes]]) -> None:
        while any(mine):
            queue = rng.choice([q for q in mine if q])
            body = queue.pop(0)
            first, second = rng.sample(clients, 2) if len(clients) > 1 else clients * 2
            await post(body, first)
            await post(body, second)  # the RMM's retry, through the other pod
            await progress.put(1)

    order = list(range(len(queues)))
    rng.shuffle(order)
    senders = [asyncio.create_task(sender([queues[i] for i in order[k::16]])) for k in range(16)]
    try:
        while sent < total:
            sent += await asyncio.wait_for(progress.get(), timeout=60)
            yield sent
        await asyncio.gather(*senders)
    finally:
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        for client in clients:
            await client.aclose()


async def outcome(tenant: Tenant, keys: dict[str, str]) -> dict[str, list[tuple[int, bool]]]:
    """Each series' tickets as (occurrences, closed), oldest first."""
    by_series: dict[str, list[tickets_pb.Ticket]] = {name: [] for name in keys}
    for ticket in await tenant.list_tickets():
        for name, key in keys.items():
            if key in ticket.linked_series_keys:
                by_series[name].append(ticket)
    return {
        name: [
            (t.occurrence_count, t.status == tickets_pb.TICKET_STATUS_CLOSED)
            for t in sorted(found, key=lambda t: t.number)
        ]
        for name, found in by_series.items()
    }


async def series_keys(tenant: Tenant, integration: Integration) -> dict[str, str]:
    """Series name -> series key, from the stored alerts."""
    keys: dict[str, str] = {}
    for alert in await tenant.alerts(integration.id):
        keys[alert.series_key] = alert.series_key
    return keys


async def assert_exact(tenant: Tenant, integration: Integration, series: list[Series]) -> None:
    """Every series ends with exactly its expected tickets (polled until settled)."""
    want = {s.name: s.expected() for s in series}
    last: dict[str, list[tuple[int, bool]]] = {}

    async def settled() -> bool:
        nonlocal last
        keys = {s.name: k for s in series if (k := _key_of(all_keys, s.name))}
        last = await outcome(tenant, keys)
        return last == want

    all_keys = await series_keys(tenant, integration)
    try:
        await eventually(settled, timeout=120, what="every series exact")
    except AssertionError:
        wrong = {n: (last.get(n), w) for n, w in want.items() if last.get(n) != w}
        raise AssertionError(f"{len(wrong)} series wrong (got, want): {wrong}") from None


def _key_of(keys: dict[str, str], name: str) -> str | None:
    # NinjaOne's series key is its seriesUid (possibly namespaced by ingest).
    return next((k for k in keys if k == name or k.endswith(f":{name}")), None)


async def test_replicas_apply_every_series_exactly(mesh: Mesh, replicas: Replicas) -> None:
    tenant = await mesh.new_tenant("replicas")
    await tenant.catch_all_rule()
    await tenant.ticket_per_problem()
    ninja = await tenant.integration("ninjaone")
    series = script("r", 40, seed=13)
    gateways = [mesh.stack.endpoints.http, *replicas.gateways]
    async for _ in send_all(ninja, gateways, series, seed=13):
        pass
    await assert_exact(tenant, ninja, series)


async def test_a_killed_and_a_stopped_tickets_replica_lose_and_reorder_nothing(
    mesh: Mesh, replicas: Replicas
) -> None:
    tenant = await mesh.new_tenant("replicas kill")
    await tenant.catch_all_rule()
    await tenant.ticket_per_problem()
    ninja = await tenant.integration("ninjaone")
    series = script("k", 40, seed=29)
    gateways = [mesh.stack.endpoints.http, *replicas.gateways]
    total = sum(len(s.bodies(0, [0])) for s in series)
    supervisor = mesh.stack.supervisor
    killed = stopped = False
    async for sent in send_all(ninja, gateways, series, seed=29):
        if not killed and sent >= total // 3:
            pid = supervisor.pid("tickets-2")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed = True
        if not stopped and sent >= 2 * total // 3:
            pid = supervisor.pid("tickets-3")
            assert pid is not None
            os.kill(pid, signal.SIGTERM)
            stopped = True
    assert killed and stopped
    await assert_exact(tenant, ninja, series)

    # The SIGTERMed replica drained and exited cleanly, well inside the manifests' grace.
    async def exited_cleanly() -> bool:
        return supervisor.pid("tickets-3") is None and 0 in supervisor.exit_codes("tickets-3")

    await eventually(exited_cleanly, timeout=35, what="tickets-3 exited 0 after SIGTERM")

    # The one tickets replica left holds every partition once the dead one's leases ran out.
    async def alone() -> bool:
        return await _members(mesh, "tickets", GROUPS["tickets"]) == 1

    await eventually(alone, timeout=30, what="partitions taken over")
