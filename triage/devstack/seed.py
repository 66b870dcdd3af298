"""Demo tenant seeding for ``make run``: a tenant, a token, a NinjaOne integration, a rule.

Idempotent across runs: what it created is remembered in ``<data dir>/demo.json`` (mode
0600, it holds the integration's secret) and reused while it still exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc

from triage.devstack.endpoints import Endpoints
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority

DEMO_FILE = "demo.json"
USER_SCOPES = ("ingest:write", "rules:write", "tickets:write", "sla:write", "notify:write")
SAMPLE_TRIGGER = {
    "id": 1001,
    "activityTime": 1742391675.556,
    "deviceId": 42,
    "severity": "CRITICAL",
    "priority": "HIGH",
    "seriesUid": "demo-disk-c",
    "activityType": "CONDITION",
    "statusCode": "TRIGGERED",
    "status": "Triggered",
    "sourceConfigUid": "cfg-disk-space",
    "sourceName": "Disk Space",
    "subject": "Disk C: below 10% free",
    "message": "Disk C: on SRV-DC01 has 4% free space",
    "device": {"id": 42, "displayName": "SRV-DC01", "organizationId": 7},
}


@dataclass(frozen=True)
class SeedResult:
    """What the banner prints: a demo tenant, a token for it and a sample webhook."""

    tenant_id: str
    token: str
    integration_id: str
    integration_secret: str
    curl_command: str


@dataclass
class _Remembered:
    tenant_id: str
    integration_id: str
    integration_secret: str


async def _reachable(address: str, seconds: float) -> bool:
    """True if a gRPC connection to ``address`` becomes ready within ``seconds``."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), seconds)
        except TimeoutError:
            return False
        return True


def curl_for(gateway: str, integration_id: str, secret: str, body: dict[str, Any]) -> str:
    """A copy-paste curl that posts ``body`` as a NinjaOne webhook."""
    return (
        f"curl -sS -X POST {gateway}/v1/webhooks/ninjaone/{integration_id} "
        f"-H 'Content-Type: application/json' -H {shlex.quote('X-Triage-Secret: ' + secret)} "
        f"-d {shlex.quote(json.dumps(body, separators=(',', ':')))}"
    )


def _load(path: Path) -> _Remembered | None:
    try:
        return _Remembered(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _save(path: Path, remembered: _Remembered) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(remembered), handle)


async def seed_demo(
    endpoints: Endpoints,
    *,
    signing_key: str | None = None,
    data_dir: Path | None = None,
    connect_within: float = 5.0,
) -> SeedResult:
    """Create (or reuse) the demo tenant, a token, a webhook integration and a catch-all rule."""
    if not await _reachable(endpoints.grpc["ingest"], connect_within):
        raise RuntimeError("seeding needs the ingest service")
    if signing_key is None or data_dir is None:
        raise RuntimeError("seeding needs the signing key and the data directory")
    authority = TokenAuthority(signing_key)
    admin = (
        (
            "authorization",
            f"Bearer {authority.issue(subject='devstack', tenant_id=None, scopes=[ADMIN_SCOPE])}",
        ),
    )
    path = data_dir / DEMO_FILE
    remembered = _load(path)
    async with (
        grpc.aio.insecure_channel(endpoints.grpc["ingest"]) as ingest,
        grpc.aio.insecure_channel(endpoints.grpc["rules"]) as rules,
    ):
        tenants = tenant_grpc.TenantServiceStub(ingest)
        integrations = ingest_grpc.IngestServiceStub(ingest)
        if remembered is not None:
            try:
                await tenants.GetTenant(
                    tenant_api.GetTenantRequest(tenant_id=remembered.tenant_id), metadata=admin
                )
            except grpc.aio.AioRpcError:
                remembered = None
        if remembered is None:
            tenant = (
                await tenants.CreateTenant(
                    tenant_api.CreateTenantRequest(
                        tenant=ingest_pb.Tenant(display_name="Demo MSP", time_zone="UTC")
                    ),
                    metadata=admin,
                )
            ).tenant
            remembered = _Remembered(tenant.id, "", "")
        token = authority.issue(
            subject="demo-user",
            tenant_id=remembered.tenant_id,
            scopes=USER_SCOPES,
            ttl_seconds=30 * 86400,
        )
        user = (("authorization", f"Bearer {token}"),)
        if remembered.integration_id:
            try:
                await integrations.GetIntegration(
                    ingest_api.GetIntegrationRequest(integration_id=remembered.integration_id),
                    metadata=user,
                )
            except grpc.aio.AioRpcError:
                remembered.integration_id = ""
        if not remembered.integration_id:
            created = await integrations.CreateIntegration(
                ingest_api.CreateIntegrationRequest(
                    integration=ingest_pb.Integration(
                        provider=ingest_pb.PROVIDER_NINJAONE, display_name="Demo NinjaOne"
                    )
                ),
                metadata=user,
            )
            remembered.integration_id = created.integration.id
            remembered.integration_secret = created.secret
            await _ensure_catch_all_rule(rules_grpc.RulesServiceStub(rules), user)
        _save(path, remembered)
    return SeedResult(
        tenant_id=remembered.tenant_id,
        token=token,
        integration_id=remembered.integration_id,
        integration_secret=remembered.integration_secret,
        curl_command=curl_for(
            endpoints.http, remembered.integration_id, remembered.integration_secret, SAMPLE_TRIGGER
        ),
    )


async def _ensure_catch_all_rule(
    stub: rules_grpc.RulesServiceAsyncStub, metadata: tuple[tuple[str, str], ...]
) -> None:
    existing = await stub.ListRules(rules_api.ListRulesRequest(), metadata=metadata)
    if any(r.display_name == "Ticket every alert" for r in existing.rules):
        return
    await stub.CreateRule(
        rules_api.CreateRuleRequest(
            rule=rules_pb.Rule(
                display_name="Ticket every alert",
                description="Demo rule: every alert opens (or adds to) a ticket.",
                actions=rules_pb.Actions(
                    ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET,
                    title_template="{{ device_name or device_id }}: {{ title }}",
                ),
            )
        ),
        metadata=metadata,
    )
