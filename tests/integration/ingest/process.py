"""The ingest service as a real child process (for sync property and schema tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.service_harness import TEST_SECRETS_KEY, TEST_SIGNING_KEY, free_port
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority


@dataclass
class IngestProcess:
    """A child ingest process with one tenant and one integration per provider."""

    http_url: str
    grpc_address: str
    database_url: str
    tenant_id: str
    integrations: dict[str, tuple[str, str]]

    def libpq(self) -> str:
        """The database URL for psycopg."""
        return make_url(self.database_url).set(drivername="postgresql").render_as_string(False)

    def stored_alert_ids(self) -> set[str]:
        """Every alert id in the database."""
        with psycopg.connect(self.libpq()) as conn:
            return {str(r[0]) for r in conn.execute("SELECT id FROM ingest.alert_events")}


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def ingest_process(pg_url: str, nats_url: str) -> Iterator[IngestProcess]:
    """Create a database, migrate, start ``python -m services.ingest``, seed, stop after."""
    name = f"p_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    grpc_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "TRIAGE_SERVICE_NAME": "ingest",
        "TRIAGE_DATABASE_URL": database_url,
        "TRIAGE_NATS_URL": nats_url,
        "TRIAGE_GRPC_PORT": str(grpc_port),
        "TRIAGE_HTTP_PORT": str(http_port),
        "TRIAGE_METRICS_PORT": "0",
        "TRIAGE_AUTH_SIGNING_KEY": TEST_SIGNING_KEY,
        "TRIAGE_SECRETS_KEY": TEST_SECRETS_KEY,
        "TRIAGE_LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-m", "services.ingest", "migrate"], env=env, check=True)
    child = subprocess.Popen([sys.executable, "-m", "services.ingest"], env=env)
    try:
        http_url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(http_url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the ingest process did not become ready")
            time.sleep(0.05)
        authority = TokenAuthority(TEST_SIGNING_KEY)
        admin = (
            (
                "authorization",
                f"Bearer {authority.issue(subject='t', tenant_id=None, scopes=[ADMIN_SCOPE])}",
            ),
        )
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            tenant = (
                tapi_grpc.TenantServiceStub(channel)
                .CreateTenant(
                    tapi.CreateTenantRequest(tenant=pb.Tenant(display_name="Prop MSP")),
                    metadata=admin,
                )
                .tenant
            )
            user_token = authority.issue(subject="t", tenant_id=tenant.id, scopes=["ingest:write"])
            user = (("authorization", f"Bearer {user_token}"),)
            integrations: dict[str, tuple[str, str]] = {}
            for provider in (
                "ninjaone",
                "tacticalrmm",
                "datto",
                "level",
                "alertmanager",
                "generic",
                "ncentral",
            ):
                reply = api_grpc.IngestServiceStub(channel).CreateIntegration(
                    api.CreateIntegrationRequest(
                        integration=pb.Integration(
                            provider=pb.Provider.Value(f"PROVIDER_{provider.upper()}"),
                            display_name=provider,
                            settings=pb.IntegrationSettings(
                                rate_limit=pb.RateLimit(requests_per_second=100000, burst=100000)
                            ),
                        )
                    ),
                    metadata=user,
                )
                integrations[provider] = (reply.integration.id, reply.secret)
        yield IngestProcess(
            http_url=http_url,
            grpc_address=f"127.0.0.1:{grpc_port}",
            database_url=database_url,
            tenant_id=tenant.id,
            integrations=integrations,
        )
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
