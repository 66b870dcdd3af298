"""``make image-test``: the container image runs the whole mesh and turns a webhook into a ticket.

The dev stack's embedded PostgreSQL and NATS start on this host (no services); then, from the
image, on the host network, the way the Kubernetes manifests run it (read-only root
filesystem, a tmpfs at /tmp, UID 10001, every capability dropped, no privilege escalation):
each service's ``migrate``, the five services, ``triage health`` until all six components are
SERVING, one NinjaOne webhook, and ``triage tickets list`` until its ticket is there. Every
service is then stopped with SIGTERM and must exit 0 within its drain; every container is
removed in ``finally``, whatever failed.

    python -m tests.image.smoke --image ghcr.io/triage/triage:0.1.0 [-- <engine run flags>]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from triage.devstack._util import LOOPBACK
from triage.devstack.endpoints import Endpoints, Ports
from triage.devstack.seed import SAMPLE_TRIGGER, seed_demo
from triage.devstack.stack import build_service_env, start_stack

#: Whole run, from the datastores to the last container removed.
DEADLINE_SECONDS = 600.0
HEALTH_WITHIN = 180.0
TICKET_WITHIN = 120.0
#: Kubernetes gives 40 s (terminationGracePeriodSeconds) less the 5 s preStop.
STOP_GRACE_SECONDS = 35
#: The manifests' securityContext (deploy/base/*.yaml), as engine flags.
HARDENING = (
    "--network=host",
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs=/tmp:rw,size=64m,mode=1777",
    "--user=10001:10001",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
)


class SmokeError(RuntimeError):
    """A step of the smoke test failed; the message says which and why."""


@dataclass
class Engine:
    """Runs containers with ``engine`` (podman), every one with ``flags`` and the hardening."""

    engine: str
    image: str
    flags: Sequence[str]
    run_id: str = field(default_factory=lambda: f"triage-smoke-{os.getpid()}")
    started: list[str] = field(default_factory=list)

    async def exec(self, *args: str, timeout: float = 60.0) -> tuple[int, str]:
        """Run ``engine args``; its exit code and combined output."""
        proc = await asyncio.create_subprocess_exec(
            self.engine,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SmokeError(f"{self.engine} {' '.join(args[:3])} ... timed out") from None
        return proc.returncode or 0, out.decode(errors="replace")

    def _run_args(self, env_file: Path | None, env: Mapping[str, str]) -> list[str]:
        args = ["run", *self.flags, *HARDENING, f"--label={self.run_id}"]
        if env_file is not None:
            args.append(f"--env-file={env_file}")
        args += [f"--env={k}={v}" for k, v in env.items()]
        return args

    async def once(
        self,
        *command: str,
        env_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        entrypoint: str | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, str]:
        """Run ``command`` in a throwaway container; its exit code and output."""
        args = [*self._run_args(env_file, env or {}), "--rm"]
        if entrypoint:
            args.append(f"--entrypoint={entrypoint}")
        return await self.exec(*args, self.image, *command, timeout=timeout)

    async def start(self, name: str, *command: str, env_file: Path) -> str:
        """Start a detached container named after this run and ``name``."""
        container = f"{self.run_id}-{name}"
        self.started.append(container)
        args = [*self._run_args(env_file, {}), "--detach", f"--name={container}"]
        code, out = await self.exec(*args, self.image, *command)
        if code != 0:
            raise SmokeError(f"starting {container} failed:\n{out}")
        return container

    async def exited(self) -> dict[str, int]:
        """Exit code of every started container that is no longer running."""
        if not self.started:
            return {}
        fmt = "{{.Name}} {{.State.Running}} {{.State.ExitCode}}"
        code, out = await self.exec("inspect", f"--format={fmt}", *self.started)
        if code != 0:
            raise SmokeError(f"inspect failed:\n{out}")
        rows = [line.split() for line in out.splitlines() if line.strip()]
        return {row[0]: int(row[2]) for row in rows if row[1] != "true"}

    async def logs(self, container: str) -> str:
        """The last lines a container printed."""
        return (await self.exec("logs", "--tail=40", container))[1]

    async def remove_all(self) -> None:
        """Remove every container of this run, running or not."""
        await self.exec("rm", "--force", "--time=0", *self.started, timeout=120.0)
        self.started.clear()


def tcp_url(database_url: str) -> str:
    """``database_url`` over TCP loopback instead of its Unix socket (``?host=/dir``).

    The embedded server also listens on 127.0.0.1, which a host-network container reaches;
    its socket directory is not mounted in the container.
    """
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    if not query.get("host", [""])[0].startswith("/"):
        return database_url
    port = query.pop("port", [""])[0]
    del query["host"]
    user = parts.netloc.split("@", 1)[0] if "@" in parts.netloc else ""
    netloc = f"{user}@{LOOPBACK}" if user else LOOPBACK
    netloc += f":{port}" if port else ""
    rest = urlencode(query, doseq=True)
    return urlunsplit((parts.scheme, netloc, parts.path, rest, parts.fragment))


def _write_env_file(directory: Path, name: str, env: Mapping[str, str]) -> Path:
    """``KEY=value`` lines for ``--env-file`` (mode 0600: it holds the keys)."""
    path = directory / f"{name}.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in env.items())
    return path


def _say(started: float, message: str) -> None:
    print(f"[image-test {time.monotonic() - started:6.1f}s] {message}", flush=True)


def _cli_env(endpoints: Endpoints, token: str | None = None) -> dict[str, str]:
    env = {f"TRIAGE_{n.upper()}_ADDR": address for n, address in endpoints.grpc.items()}
    env["TRIAGE_GATEWAY_URL"] = endpoints.http
    if token:
        env["TRIAGE_TOKEN"] = token
    return env


async def _until_healthy(engine: Engine, endpoints: Endpoints) -> list[dict[str, Any]]:
    """``triage health`` from the image until every component is SERVING."""
    deadline = time.monotonic() + HEALTH_WITHIN
    last = ""
    while time.monotonic() < deadline:
        crashed = await engine.exited()
        if crashed:
            name, code = next(iter(crashed.items()))
            raise SmokeError(f"{name} exited with {code}:\n{await engine.logs(name)}")
        code, out = await engine.once(
            "--json", "health", entrypoint="triage", env=_cli_env(endpoints)
        )
        last = out
        if code == 0:
            rows: list[dict[str, Any]] = json.loads(out)
            return rows
        await asyncio.sleep(1.0)
    raise SmokeError(f"not all SERVING after {HEALTH_WITHIN:.0f}s; last `triage health`:\n{last}")


async def _until_ticket(engine: Engine, endpoints: Endpoints, token: str) -> dict[str, Any]:
    """``triage tickets list`` from the image until the webhook's ticket is there."""
    deadline = time.monotonic() + TICKET_WITHIN
    last = ""
    while time.monotonic() < deadline:
        code, out = await engine.once(
            "--json", "tickets", "list", entrypoint="triage", env=_cli_env(endpoints, token)
        )
        last = out
        if code == 0:
            for ticket in json.loads(out).get("tickets", []):
                if str(SAMPLE_TRIGGER["subject"]) in str(ticket.get("title", "")):
                    found: dict[str, Any] = ticket
                    return found
        await asyncio.sleep(1.0)
    raise SmokeError(f"no ticket after {TICKET_WITHIN:.0f}s; last `triage tickets list`:\n{last}")


async def _send_webhook(endpoints: Endpoints, integration_id: str, secret: str) -> int:
    async with httpx.AsyncClient(base_url=endpoints.http, timeout=10.0) as client:
        response = await client.post(
            f"/v1/webhooks/ninjaone/{integration_id}",
            json=SAMPLE_TRIGGER,
            headers={"X-Triage-Secret": secret},
        )
    if not response.is_success:
        raise SmokeError(f"webhook answered {response.status_code}: {response.text}")
    return response.status_code


async def _stop_gracefully(engine: Engine, started: float) -> None:
    """SIGTERM every service (the image's STOPSIGNAL) and require exit code 0."""
    running = list(engine.started)
    code, out = await engine.exec(
        "stop", f"--time={STOP_GRACE_SECONDS}", *running, timeout=STOP_GRACE_SECONDS + 30
    )
    if code != 0:
        raise SmokeError(f"stop failed:\n{out}")
    codes = await engine.exited()
    bad = {name: c for name, c in codes.items() if c != 0}
    if bad or len(codes) != len(running):
        raise SmokeError(f"not a clean drain on SIGTERM (exit codes {codes})")
    _say(started, f"SIGTERM: all {len(codes)} services drained and exited 0")


async def smoke(engine: Engine) -> None:
    """The whole check; raises :class:`SmokeError` on the first failed step."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="triage-image-test-") as tmp:
        data_dir = Path(tmp)
        async with start_stack(data_dir / "stack", services=False, seed=False, env={}) as stack:
            where = f"{tcp_url(stack.database_url)}, {stack.nats_url}"
            _say(started, f"PostgreSQL and NATS up: {where}")
            ports = Ports.free()
            endpoints = Endpoints.from_ports(ports)
            try:
                for name in ports.grpc:  # every service, in the dev stack's order
                    env = build_service_env(
                        name,
                        database_url=tcp_url(stack.database_url),
                        nats_url=stack.nats_url,
                        ports=ports,
                        keys=stack.keys,
                    )
                    env_file = _write_env_file(data_dir, name, env)
                    code, out = await engine.once(
                        f"services.{name}", "migrate", env_file=env_file, timeout=120.0
                    )
                    if code != 0:
                        raise SmokeError(f"{name} migrate exited {code}:\n{out}")
                    await engine.start(name, f"services.{name}", env_file=env_file)
                    _say(started, f"{name}: migrated and started")
                rows = await _until_healthy(engine, endpoints)
                table = ", ".join(f"{r['component']} {r['status']}" for r in rows)
                _say(started, f"triage health: {table}")
                seeded = await seed_demo(
                    endpoints, signing_key=stack.keys.auth_signing_key, data_dir=data_dir
                )
                status = await _send_webhook(
                    endpoints, seeded.integration_id, seeded.integration_secret
                )
                _say(started, f"webhook answered {status}")
                ticket = await _until_ticket(engine, endpoints, seeded.token)
                _say(started, f"ticket {ticket.get('id')}: {ticket.get('title')!r}")
                await _stop_gracefully(engine, started)
            except SmokeError:
                for container in engine.started:
                    print(f"--- {container}\n{await engine.logs(container)}", file=sys.stderr)
                raise
            finally:
                await engine.remove_all()
    _say(started, "passed")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: exit 0 if the image ran the mesh end to end."""
    parser = argparse.ArgumentParser(prog="python -m tests.image.smoke")
    parser.add_argument("--image", required=True)
    parser.add_argument("--engine", default="podman")
    parser.add_argument("flags", nargs="*", help="extra engine run flags (after --)")
    args = parser.parse_args(argv)
    engine = Engine(args.engine, args.image, args.flags)

    async def bounded() -> None:
        await asyncio.wait_for(smoke(engine), DEADLINE_SECONDS)

    try:
        asyncio.run(bounded())
    except (SmokeError, RuntimeError, TimeoutError) as exc:
        print(f"image-test FAILED: {exc}", file=sys.stderr)
        return 1
    print("image-test passed: a ticket from the containerised mesh", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
