"""Start the servers and services a scenario needs, seed tenants, run the load generator."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil

from bench.workload import Target
from triage.devstack.stack import Stack
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority


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


async def seed_targets(
    stack: Stack, *, tenants: int, providers: tuple[str, ...]
) -> list[Target]:
    """Create ``tenants`` tenants, each with one integration per provider (no rate limit)."""
    authority = TokenAuthority(stack.keys.auth_signing_key)
    admin = (("authorization", f"Bearer {authority.issue(subject='bench', tenant_id=None, scopes=[ADMIN_SCOPE])}"),)
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
        done = subprocess.run(argv, check=True, capture_output=True, timeout=seconds + 60)
        result: dict[str, Any] = json.loads(done.stdout)
        return result
    finally:
        Path(path).unlink(missing_ok=True)


class ProcessSampler:
    """CPU seconds and peak RSS of a set of processes over an interval."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._cpu0 = {name: self._cpu(p) for name, p in self._procs.items()}
        self._t0 = time.monotonic()
        self.peak_rss = {name: 0 for name in self._procs}

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    def sample(self) -> None:
        """Record the current RSS."""
        for name, proc in self._procs.items():
            try:
                self.peak_rss[name] = max(self.peak_rss[name], proc.memory_info().rss)
            except psutil.Error:
                pass

    def result(self) -> dict[str, dict[str, float]]:
        """CPU utilisation (cores) and peak RSS (MiB) per process since start."""
        elapsed = time.monotonic() - self._t0
        out: dict[str, dict[str, float]] = {}
        for name, proc in self._procs.items():
            try:
                cpu = self._cpu(proc) - self._cpu0[name]
            except psutil.Error:
                cpu = 0.0
            out[name] = {
                "cpu_cores": cpu / elapsed if elapsed else 0.0,
                "peak_rss_mib": self.peak_rss[name] / (1 << 20),
            }
        return out
