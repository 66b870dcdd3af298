"""Start the servers and services a scenario needs, seed tenants, run the load generator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import grpc
import httpx
import psutil
from sqlalchemy.engine import make_url

from bench.pipeline_settings import plain_pipeline
from bench.workload import Target
from triage.devstack._util import free_port
from triage.devstack.endpoints import Ports
from triage.devstack.stack import Stack, start_stack, wait_healthy
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority

USER_SCOPES = ("ingest:write", "rules:write", "tickets:write", "sla:write", "notify:write")


async def wait_ready(url: str, within: float = 60.0) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1) as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready within {within}s")
            await asyncio.sleep(0.1)


async def seed_targets(stack: Stack, *, tenants: int, providers: tuple[str, ...]) -> list[Target]:
    """Create ``tenants`` tenants, each with one integration per provider (no rate limit)."""
    authority = TokenAuthority(stack.keys.auth_signing_key)
    admin = (
        (
            "authorization",
            f"Bearer {authority.issue(subject='bench', tenant_id=None, scopes=[ADMIN_SCOPE])}",
        ),
    )
    targets: list[Target] = []
    async with grpc.aio.insecure_channel(stack.endpoints.grpc["ingest"]) as channel:
        for t in range(tenants):
            tenant = (
                await tapi_grpc.TenantServiceStub(channel).CreateTenant(
                    tapi.CreateTenantRequest(tenant=pb.Tenant(display_name=f"Bench MSP {t}")),
                    metadata=admin,
                )
            ).tenant
            token = authority.issue(subject="bench", tenant_id=tenant.id, scopes=["ingest:write"])
            for provider in providers:
                reply = await api_grpc.IngestServiceStub(channel).CreateIntegration(
                    api.CreateIntegrationRequest(
                        integration=pb.Integration(
                            provider=pb.Provider.Value(f"PROVIDER_{provider.upper()}"),
                            display_name=f"bench {provider}",
                            settings=pb.IntegrationSettings(
                                rate_limit=pb.RateLimit(requests_per_second=1e6, burst=1000000)
                            ),
                        )
                    ),
                    metadata=(("authorization", f"Bearer {token}"),),
                )
                targets.append(Target(tenant.id, provider, reply.integration.id, reply.secret))
    return targets


async def register_tenant(stack: Stack, name: str = "Bench MSP") -> str:
    """A tenant registered through ingest's TenantService (services refuse unknown ones)."""
    authority = TokenAuthority(stack.keys.auth_signing_key)
    token = authority.issue(subject="bench", tenant_id=None, scopes=[ADMIN_SCOPE])
    async with grpc.aio.insecure_channel(stack.endpoints.grpc["ingest"]) as channel:
        reply = await tapi_grpc.TenantServiceStub(channel).CreateTenant(
            tapi.CreateTenantRequest(tenant=pb.Tenant(display_name=name)),
            metadata=(("authorization", f"Bearer {token}"),),
        )
    return str(reply.tenant.id)


def tenant_metadata(stack: Stack, tenant_id: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata of a user of ``tenant_id`` with every service's write scope."""
    token = TokenAuthority(stack.keys.auth_signing_key).issue(
        subject="bench", tenant_id=tenant_id, scopes=USER_SCOPES
    )
    return (("authorization", f"Bearer {token}"),)


async def seed_catch_all_rules(stack: Stack, tenant_ids: list[str]) -> None:
    """One "create ticket for every alert" rule per tenant, through the rules API."""
    async with grpc.aio.insecure_channel(stack.endpoints.grpc["rules"]) as channel:
        stub = rules_grpc.RulesServiceStub(channel)
        for tenant_id in tenant_ids:
            await stub.CreateRule(
                rules_api.CreateRuleRequest(
                    rule=rules_pb.Rule(
                        display_name="Ticket every alert",
                        actions=rules_pb.Actions(
                            ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET,
                            title_template="{{ device_name or device_id }}: {{ title }}",
                        ),
                    )
                ),
                metadata=tenant_metadata(stack, tenant_id),
            )


async def seed_routed_targets(
    stack: Stack, *, tenants: int, providers: tuple[str, ...]
) -> list[Target]:
    """:func:`seed_targets`, each tenant with a catch-all rule: every alert makes a ticket,
    with flap damping and storm protection off (:mod:`bench.pipeline_settings`)."""
    targets = await seed_targets(stack, tenants=tenants, providers=providers)
    tenant_ids = sorted({t.tenant_id for t in targets})
    await seed_catch_all_rules(stack, tenant_ids)
    await plain_pipeline(
        stack.endpoints.grpc["tickets"], [tenant_metadata(stack, t) for t in tenant_ids]
    )
    return targets


@asynccontextmanager
async def running_mesh(output: TextIO = sys.stderr) -> AsyncIterator[Stack]:
    """The whole mesh on free ports in a temporary folder, healthy and ready."""
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as data:
        async with start_stack(
            Path(data), services=False, seed=False, ports=Ports.free(), output=output
        ) as stack:
            await stack.start_services()
            await wait_healthy(stack.endpoints, supervisor=stack.supervisor)
            await wait_ready(stack.endpoints.http + "/readyz")
            yield stack


def _load_argv(
    url: str, path: str, *, concurrency: int, count: int, seconds: float, rate: float | None
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--requests-file",
        path,
        "--concurrency",
        str(concurrency),
        "--count",
        str(count),
        "--seconds",
        str(seconds),
    ]
    if rate:
        argv += ["--rate", str(rate)]
    return argv


async def run_load_async(
    url: str,
    requests: list[dict[str, Any]],
    *,
    concurrency: int,
    count: int,
    seconds: float,
    rate: float | None = None,
    sampler: ProcessSampler | None = None,
) -> dict[str, Any]:
    """:func:`run_load` without blocking the event loop; the sampler also watches it."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(requests, handle)
        path = handle.name
    argv = _load_argv(url, path, concurrency=concurrency, count=count, seconds=seconds, rate=rate)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        if sampler is not None:
            sampler.add("loadgen", proc.pid)
        out, err = await asyncio.wait_for(proc.communicate(), seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out)
        return result
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)


@asynccontextmanager
async def floor_process(stack: Stack) -> AsyncIterator[tuple[str, int]]:
    """Run the floor (``bench.floor``) on a free port; yield its URL and pid, then stop it."""
    port = free_port()
    conninfo = make_url(stack.database_url).set(drivername="postgresql").render_as_string(False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.floor",
        "--port",
        str(port),
        "--conninfo",
        conninfo,
        "--nats-url",
        stack.nats_url,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url + "/", within=30)
        yield url, proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def run_load(
    url: str,
    requests: list[dict[str, Any]],
    *,
    concurrency: int,
    count: int,
    seconds: float,
    rate: float | None = None,
) -> dict[str, Any]:
    """Run the load generator as its own process and return its measurements."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(requests, handle)
        path = handle.name
    try:
        argv = _load_argv(
            url, path, concurrency=concurrency, count=count, seconds=seconds, rate=rate
        )
        done = subprocess.run(argv, check=True, capture_output=True, timeout=seconds + 60)
        result: dict[str, Any] = json.loads(done.stdout)
        return result
    finally:
        Path(path).unlink(missing_ok=True)


def server_pids(stack: Stack) -> dict[str, int]:
    """The PostgreSQL postmaster and nats-server pids of a stack (those that are known)."""
    pids: dict[str, int] = {}
    if stack.postgres is not None and stack.postgres.pid:
        pids["postgres"] = stack.postgres.pid
    if stack.nats is not None and stack.nats.pid:
        pids["nats"] = stack.nats.pid
    return pids


def service_pids(stack: Stack, names: tuple[str, ...]) -> dict[str, int]:
    """The supervisor's pid of each running service in ``names``."""
    pids: dict[str, int] = {}
    for name in names:
        pid = stack.supervisor.pid(name)
        if pid:
            pids[name] = pid
    return pids


class ProcessSampler:
    """CPU (cores) and peak RSS of a set of processes over an interval, and the machine's.

    Names in ``trees`` (PostgreSQL: a postmaster and its backends) count with their
    children: live children's CPU plus what the kernel booked on the parent for reaped
    ones, RSS summed over the tree (shared buffers are counted once per backend, so that
    figure is an upper bound). Other processes count alone. ``machine`` in the result is
    every core's busy time, so CPU that other work on the machine took shows as
    ``others_cpu_cores``.
    """

    def __init__(
        self, pids: dict[str, int], *, trees: frozenset[str] = frozenset({"postgres"})
    ) -> None:
        self._trees = trees
        self._procs: dict[str, psutil.Process] = {}
        self._cpu0: dict[str, float] = {}
        self._t0: dict[str, float] = {}
        self.peak_rss: dict[str, int] = {}
        self._last_cpu: dict[str, tuple[float, float]] = {}
        self._machine0 = self._busy()
        self._machine_t0 = time.monotonic()
        for name, pid in pids.items():
            self.add(name, pid)

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    def add(self, name: str, pid: int) -> None:
        """Start watching ``pid`` as ``name`` from now."""
        try:
            proc = psutil.Process(pid)
            self._cpu0[name] = self._cpu(name, proc)
        except psutil.Error:
            return
        self._procs[name] = proc
        self._t0[name] = time.monotonic()
        self.peak_rss[name] = 0

    def _cpu(self, name: str, proc: psutil.Process) -> float:
        times = proc.cpu_times()
        total = float(times.user + times.system)
        if name in self._trees:
            total += times.children_user + times.children_system
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    t = child.cpu_times()
                    total += t.user + t.system
        return total

    def _rss(self, name: str, proc: psutil.Process) -> int:
        total = int(proc.memory_info().rss)
        if name in self._trees:
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += int(child.memory_info().rss)
        return total

    def sample(self) -> None:
        """Record the current RSS (and keep the last CPU reading of live processes)."""
        for name, proc in list(self._procs.items()):
            try:
                self.peak_rss[name] = max(self.peak_rss[name], self._rss(name, proc))
                self._last_cpu[name] = (self._cpu(name, proc), time.monotonic())
            except psutil.Error:
                pass

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) each process used since it was added."""
        out: dict[str, float] = {}
        for name, proc in list(self._procs.items()):
            try:
                cpu = self._cpu(name, proc)
            except psutil.Error:  # gone: the last sample taken while it ran
                cpu = self._last_cpu.get(name, (self._cpu0[name], 0.0))[0]
            out[name] = cpu - self._cpu0[name]
        return out

    def result(self) -> dict[str, dict[str, float]]:
        """CPU utilisation (cores) and peak RSS (MiB) per process since it was added."""
        out: dict[str, dict[str, float]] = {}
        for name, proc in list(self._procs.items()):
            try:
                cpu, at = self._cpu(name, proc), time.monotonic()
            except psutil.Error:  # gone: use the last sample taken while it ran
                cpu, at = self._last_cpu.get(name, (self._cpu0[name], self._t0[name]))
            elapsed = at - self._t0[name]
            out[name] = {
                "cpu_cores": (cpu - self._cpu0[name]) / elapsed if elapsed > 0 else 0.0,
                "peak_rss_mib": self.peak_rss[name] / (1 << 20),
            }
        elapsed = time.monotonic() - self._machine_t0
        busy = (self._busy() - self._machine0) / elapsed if elapsed > 0 else 0.0
        ours = sum(v["cpu_cores"] for v in out.values())
        out["machine"] = {
            "cpu_cores": busy,
            "others_cpu_cores": max(0.0, busy - ours),
            "cores": float(psutil.cpu_count() or 0),
        }
        return out

    async def run(self, interval: float = 0.25) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(interval)
