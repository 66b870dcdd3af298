"""Demo tenant seeding for ``make run`` (completed once the ingest API exists)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc

from triage.devstack.endpoints import Endpoints


@dataclass(frozen=True)
class SeedResult:
    """What the banner prints: a demo tenant, a token for it and a sample webhook."""

    tenant_id: str
    token: str
    integration_id: str
    integration_secret: str
    curl_command: str


async def _reachable(address: str, seconds: float) -> bool:
    """True if a gRPC connection to ``address`` becomes ready within ``seconds``."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), seconds)
        except TimeoutError:
            return False
        return True


async def seed_demo(endpoints: Endpoints, *, connect_within: float = 5.0) -> SeedResult:
    """Create (or reuse) the demo tenant, a token and a webhook integration through the APIs."""
    if not await _reachable(endpoints.grpc["ingest"], connect_within):
        raise RuntimeError("seeding needs the ingest service")
    raise NotImplementedError("seed_demo: demo tenant seeding is not written yet")
