"""The dev stack: PostgreSQL, NATS and the five services, as ``make run`` and e2e tests use it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from triage.devstack._util import port_in_use
from triage.devstack.endpoints import Endpoints, Ports
from triage.devstack.nats import EmbeddedNats
from triage.devstack.postgres import EmbeddedPostgres
from triage.devstack.seed import SeedResult, seed_demo
from triage.devstack.supervisor import RestartPolicy, Supervisor
from triage.mesh import SERVICE_NAMES
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority
from triage.runtime.db import sqlalchemy_url

REPO_ROOT = Path(__file__).resolve().parents[2]
KEYS_FILE = "keys.json"

T = TypeVar("T")


@dataclass(frozen=True)
class Keys:
    """Secrets generated once per data dir: JWT signing key and the secrets-at-rest key."""

    auth_signing_key: str
    secrets_key: str


def load_or_create_keys(path: Path) -> Keys:
    """Read the keys from ``path``, or generate and store them (mode 0600) on first use."""
    if path.exists():
        path.chmod(0o600)
        try:
            raw = json.loads(path.read_text())
            return Keys(str(raw["auth_signing_key"]), str(raw["secrets_key"]))
        except (ValueError, KeyError, TypeError) as exc:
            # Never regenerate silently: secrets stored under the old key would become
            # unreadable.
            raise RuntimeError(f"{path} is unreadable; fix or delete it: {exc}") from exc
    keys = Keys(
        auth_signing_key=secrets.token_urlsafe(48),
        secrets_key=base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"auth_signing_key": keys.auth_signing_key, "secrets_key": keys.secrets_key}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return keys


#: CPU niceness of the services other than ingest in the dev stack.
CONSUMER_NICE = 5


def build_service_env(
    name: str,
    *,
    database_url: str,
    nats_url: str,
    ports: Ports,
    keys: Keys,
    base_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of service ``name``: ``base_env`` plus its ``TRIAGE_*`` settings."""
    env = dict(base_env or {})
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TRIAGE_SERVICE_NAME": name,
            "TRIAGE_ENV": "dev",
            "TRIAGE_DATABASE_URL": database_url,
            "TRIAGE_NATS_URL": nats_url,
            "TRIAGE_GRPC_PORT": str(ports.grpc[name]),
            "TRIAGE_METRICS_PORT": str(ports.metrics[name]),
            "TRIAGE_AUTH_SIGNING_KEY": keys.auth_signing_key,
            "TRIAGE_SECRETS_KEY": keys.secrets_key,
        }
    )
    env.pop("TRIAGE_HTTP_PORT", None)
    if name == "ingest":
        env["TRIAGE_HTTP_PORT"] = str(ports.http)
    else:
        # Everything shares this machine's cores: webhooks are answered first (see
        # Settings.cpu_nice); TRIAGE_CPU_NICE in the environment applies to all instead.
        env.setdefault("TRIAGE_CPU_NICE", str(CONSUMER_NICE))
    for peer, port in ports.grpc.items():
        env[f"TRIAGE_PEERS__{peer.upper()}"] = f"127.0.0.1:{port}"
    return env


def service_argv(name: str, *args: str) -> list[str]:
    """Command line of service ``name`` (``python -m services.<name> ...``)."""
    return [sys.executable, "-m", f"services.{name}", *args]


async def wait_healthy(
    endpoints: Endpoints,
    names: tuple[str, ...] = SERVICE_NAMES,
    *,
    within: float = 60.0,
    supervisor: Supervisor | None = None,
) -> None:
    """Poll each service's gRPC health (overall, service ``""``) until all are SERVING."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = set(names)

    async def one(name: str) -> None:
        async with grpc.aio.insecure_channel(endpoints.grpc[name]) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            while True:
                if supervisor is not None and name in supervisor.gave_up:
                    raise RuntimeError(f"{name} keeps crashing; see its output above")
                try:
                    reply = await stub.Check(request, timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        pending.discard(name)
                        return
                except grpc.aio.AioRpcError:
                    pass
                if loop.time() >= deadline:
                    raise TimeoutError(
                        f"not SERVING after {within:.0f}s: {', '.join(sorted(pending))}"
                    )
                await asyncio.sleep(0.1)

    await _gather_first_error(*(one(name) for name in names))


@dataclass
class Stack:
    """A running dev stack; built by :func:`start_stack`."""

    data_dir: Path
    database_url: str
    nats_url: str
    ports: Ports
    keys: Keys
    supervisor: Supervisor
    services: tuple[str, ...] = ()
    cwd: Path = REPO_ROOT
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None
    seed: SeedResult | None = None
    stop_signal: int = signal.SIGTERM
    timings: dict[str, float] = field(default_factory=dict)
    console_url: str = ""
    _admin_token: str = field(default="", repr=False)

    @property
    def endpoints(self) -> Endpoints:
        """Addresses of the services."""
        return Endpoints.from_ports(self.ports)

    def service_env(self, name: str, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for service ``name`` in this stack."""
        return build_service_env(
            name,
            database_url=self.database_url,
            nats_url=self.nats_url,
            ports=self.ports,
            keys=self.keys,
            base_env=os.environ if base_env is None else base_env,
        )

    async def start_services(
        self, names: tuple[str, ...] = SERVICE_NAMES, *, base_env: Mapping[str, str] | None = None
    ) -> None:
        """Migrate then start each service in order, under the supervisor."""
        busy = [port for port in self.ports.all() if port_in_use(port)]
        if busy:
            raise RuntimeError(f"ports already in use (another make run?): {busy}")
        for name in names:
            env = self.service_env(name, base_env)
            code = await self.supervisor.run_once(
                name, service_argv(name, "migrate"), env=env, cwd=self.cwd
            )
            if code != 0:
                raise RuntimeError(f"{name} migrate failed with exit code {code}")
            await self.supervisor.start(name, service_argv(name), env=env, cwd=self.cwd)
            self.services = (*self.services, name)

    async def start_console(
        self, port: int, *, base_env: Mapping[str, str] | None = None, within: float = 30.0
    ) -> str:
        """Start the web console (services/console: no database, it calls the services'
        gRPC with the user's token) on ``port``; its URL once it answers."""
        if port_in_use(port):
            raise RuntimeError(f"console port {port} already in use (another make run?)")
        endpoints = self.endpoints
        env = dict(os.environ if base_env is None else base_env)
        env.update({f"TRIAGE_PEERS__{n.upper()}": a for n, a in endpoints.grpc.items()})
        env.update(
            PYTHONUNBUFFERED="1",
            TRIAGE_CONSOLE_PORT=str(port),
            TRIAGE_CONSOLE_WEBHOOK_BASE=endpoints.http,
            # Derived from the stack's signing key: sessions survive a console restart.
            TRIAGE_CONSOLE_SESSION_KEY="console-session:" + self.keys.auth_signing_key,
        )
        await self.supervisor.start("console", service_argv("console"), env=env, cwd=self.cwd)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + within
        while not port_in_use(port):
            if time.monotonic() >= deadline or "console" in self.supervisor.gave_up:
                raise RuntimeError(f"the console did not listen on {port} within {within:.0f}s")
            await asyncio.sleep(0.1)
        self.console_url = url
        return url

    def admin_token(self) -> str:
        """An admin token signed with this stack's key (minted once per stack); empty when
        the key cannot sign (shorter than a real one)."""
        if not self._admin_token:
            try:
                authority = TokenAuthority(self.keys.auth_signing_key)
            except ValueError:
                return ""
            self._admin_token = authority.issue(
                subject="admin:devstack",
                tenant_id=None,
                scopes=[ADMIN_SCOPE],
                ttl_seconds=12 * 3600,
            )
        return self._admin_token

    def banner(self) -> str:
        """What to print once the stack is up: servers, addresses, export line and curl."""
        lines = [
            "Triage dev stack is up (Ctrl-C stops everything).",
            f"  PostgreSQL  {self.database_url}",
            f"  NATS        {self.nats_url}",
        ]
        if self.services:
            endpoints = self.endpoints
            grpc_addrs = "  ".join(f"{n} {endpoints.grpc[n]}" for n in self.services)
            lines += [f"  gRPC        {grpc_addrs}", f"  webhooks    {endpoints.http}"]
            if self.console_url:
                lines.append(f"  console     {self.console_url}  (sign in with TRIAGE_TOKEN)")
            exports = [f"TRIAGE_{n.upper()}_ADDR={endpoints.grpc[n]}" for n in self.services]
            if "ingest" in self.services:
                exports.append(f"TRIAGE_GATEWAY_URL={endpoints.http}")
            if self.seed is not None:
                exports.insert(0, f"TRIAGE_TOKEN={shlex.quote(self.seed.token)}")
            # The `triage` command lives in the virtualenv that runs this stack.
            exports.insert(0, f"PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH")
            lines += ["", "From another shell:", "  export " + " ".join(exports)]
            if self.seed is not None:
                lines += [
                    f"  # demo tenant {self.seed.tenant_id}, "
                    f"integration {self.seed.integration_id}",
                    "  " + self.seed.curl_command,
                ]
            if admin := self.admin_token():
                lines += [
                    "",
                    "Administrator token (admin scope, 12 h: create tenants, issue/revoke tokens,",
                    "suspend/resume; `triage admin token` mints another from the signing key):",
                    f"  export TRIAGE_ADMIN_TOKEN={shlex.quote(admin)}",
                    '  TRIAGE_TOKEN="$TRIAGE_ADMIN_TOKEN" triage tenants create --name "Acme MSP"',
                ]
        else:
            lines += [
                "",
                "From another shell:",
                f"  export DATABASE_URL={shlex.quote(self.database_url)} "
                f"NATS_URL={shlex.quote(self.nats_url)}",
            ]
        return "\n".join(lines)

    async def aclose(self) -> None:
        """Stop the services, then NATS, then PostgreSQL."""
        await self.supervisor.stop(self.stop_signal)
        if self.nats is not None:
            await asyncio.to_thread(self.nats.stop)
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)


async def _in_thread(fn: Callable[[], T]) -> T:
    """Run blocking ``fn`` in a thread; if we are cancelled, still wait for it to finish."""
    future = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # A server half-started in the background would be missed by the cleanup.
        with contextlib.suppress(Exception):
            await asyncio.wait({future})
        raise


def _prepare_data_dir(data_dir: Path) -> tuple[Path, Keys]:
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir, load_or_create_keys(data_dir / KEYS_FILE)


async def _value(value: T) -> T:
    return value


async def _gather_first_error(*coros: Coroutine[Any, Any, T]) -> list[T]:
    """Run ``coros`` concurrently; on failure cancel the rest and raise the first error."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [t.result() for t in tasks]


@asynccontextmanager
async def start_stack(
    data_dir: Path,
    *,
    services: bool = True,
    seed: bool = True,
    env: Mapping[str, str] | None = None,
    ports: Ports | None = None,
    output: TextIO | None = None,
    policy: RestartPolicy | None = None,
    health_timeout: float = 60.0,
    cwd: Path = REPO_ROOT,
) -> AsyncIterator[Stack]:
    """Start PostgreSQL and NATS (or use ``DATABASE_URL``/``NATS_URL``), then the services.

    Services run as ``python -m services.<name>`` in ``cwd``. Everything started is stopped
    on exit, in reverse order, also when startup fails.
    """
    env = os.environ if env is None else env
    data_dir, keys = await asyncio.to_thread(_prepare_data_dir, data_dir)
    supervisor = Supervisor(output=output, policy=policy)
    postgres = None if env.get("DATABASE_URL") else EmbeddedPostgres(data_dir / "postgres")
    nats = None if env.get("NATS_URL") else EmbeddedNats(data_dir / "nats")
    stack = Stack(
        data_dir=data_dir,
        database_url=sqlalchemy_url(env.get("DATABASE_URL", "")),
        nats_url=env.get("NATS_URL", ""),
        ports=ports or Ports.default(),
        keys=keys,
        supervisor=supervisor,
        cwd=cwd,
        postgres=postgres,
        nats=nats,
    )
    try:

        async def timed(label: str, fn: Callable[[], str]) -> str:
            started = time.monotonic()
            result = await _in_thread(fn)
            stack.timings[label] = time.monotonic() - started
            supervisor.say(f"{label} ready in {stack.timings[label]:.2f}s")
            return result

        pg_url, nats_url = await _gather_first_error(
            timed("postgres", postgres.start) if postgres else _value(stack.database_url),
            timed("nats", nats.start) if nats else _value(stack.nats_url),
        )
        stack.database_url, stack.nats_url = pg_url, nats_url
        if services:
            await stack.start_services(base_env=env)
            started = time.monotonic()
            await wait_healthy(stack.endpoints, within=health_timeout, supervisor=supervisor)
            stack.timings["healthy"] = time.monotonic() - started
            if seed:
                stack.seed = await seed_demo(
                    stack.endpoints,
                    signing_key=stack.keys.auth_signing_key,
                    data_dir=stack.data_dir,
                )
        yield stack
    finally:
        await stack.aclose()
