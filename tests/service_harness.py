"""Run a real service in the test's event loop, on free ports, against the session servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from triage.runtime.app import Runtime, run_service
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority
from triage.runtime.config import Settings
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox

TEST_SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789"
TEST_SECRETS_KEY = base64.b64encode(bytes(range(32))).decode()


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningService:
    """A service started in-process, and how to reach it."""

    settings: Settings
    authority: TokenAuthority

    @property
    def grpc_address(self) -> str:
        """``host:port`` of its gRPC server."""
        return f"127.0.0.1:{self.settings.grpc_port}"

    @property
    def http_url(self) -> str:
        """Base URL of its HTTP server (ingest only)."""
        return f"http://127.0.0.1:{self.settings.http_port}"

    def token(self, tenant_id: str | None, *scopes: str) -> str:
        """A bearer token for ``tenant_id`` with ``scopes``."""
        return self.authority.issue(subject="test", tenant_id=tenant_id, scopes=scopes)

    def metadata(self, tenant_id: str | None, *scopes: str) -> tuple[tuple[str, str], ...]:
        """Call metadata with such a token."""
        return (("authorization", f"Bearer {self.token(tenant_id, *scopes)}"),)

    def admin_metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata of an administrator."""
        return self.metadata(None, ADMIN_SCOPE)


@contextlib.asynccontextmanager
async def running_service(
    *,
    name: str,
    schema: str,
    outbox: Outbox,
    wire: Callable[[Runtime], Awaitable[None]],
    migrations: Path,
    database_url: str,
    nats_url: str,
    **overrides: Any,
) -> AsyncIterator[RunningService]:
    """Migrate, start the service, yield once it serves, stop it gracefully."""
    upgrade(database_url, schema=schema, script_location=str(migrations))
    settings = Settings(
        service_name=name,
        database_url=database_url,
        nats_url=nats_url,
        grpc_port=free_port(),
        http_port=free_port(),
        metrics_port=0,
        auth_signing_key=SecretStr(TEST_SIGNING_KEY),
        secrets_key=SecretStr(TEST_SECRETS_KEY),
        shutdown_grace_seconds=1.0,
        **overrides,
    )
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_service(
            settings,
            schema=schema,
            outbox=outbox,
            wire=wire,
            stop_event=stop,
            install_signal_handlers=False,
            started=started,
        )
    )
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiter], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
        raise RuntimeError(f"{name} stopped while starting")
    if not started.is_set():
        raise RuntimeError(f"{name} did not start within 30 s")
    try:
        yield RunningService(settings, TokenAuthority(TEST_SIGNING_KEY))
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
