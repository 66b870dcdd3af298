"""The embedded servers and the dev stack, for real: start, use, stop, restart on kept data."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nats
import psutil
import psycopg
import pytest

from triage.devstack._util import process_alive
from triage.devstack.endpoints import Ports
from triage.devstack.nats import EmbeddedNats
from triage.devstack.postgres import EmbeddedPostgres
from triage.devstack.seed import seed_demo
from triage.devstack.stack import start_stack, wait_healthy
from triage.devstack.supervisor import RestartPolicy
from triage.mesh import SERVICE_NAMES

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def libpq(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def wait_gone(pid: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while process_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still running"
        time.sleep(0.01)


def postmaster_children(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children()]


def test_postgres_starts_serves_stops_and_keeps_data(tmp_path: Path):
    pg = EmbeddedPostgres(tmp_path / "pg")
    with pg:
        url = pg.url
        assert url.startswith("postgresql+psycopg://postgres@/triage?host=")
        assert f"&port={pg.port}" in url
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in (
                    "fsync",
                    "synchronous_commit",
                    "max_connections",
                    "shared_buffers",
                    "listen_addresses",
                )
            }
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('before restart')")
        assert settings == {
            "fsync": "on",
            "synchronous_commit": "on",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "listen_addresses": "127.0.0.1",
        }
        with psycopg.connect(libpq(pg.tcp_url)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("triage",)
        pid = pg.pid
        assert pid is not None
        backends = postmaster_children(pid)
    wait_gone(pid)
    assert not any(process_alive(p) for p in backends)

    again = EmbeddedPostgres(tmp_path / "pg")
    with again, psycopg.connect(libpq(again.url)) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("before restart",)]
    assert again.pid is None


def test_postgres_recovers_after_a_killed_run(tmp_path: Path):
    first = EmbeddedPostgres(tmp_path / "pg")
    with psycopg.connect(libpq(first.start()), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (1)")
    pid = first.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)

    second = EmbeddedPostgres(tmp_path / "pg")
    with second, psycopg.connect(libpq(second.url)) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(1,)]

    # A stale pid file whose pid now belongs to an unrelated live process.
    (tmp_path / "pg" / "postmaster.pid").write_text(f"{os.getpid()}\n")
    with EmbeddedPostgres(tmp_path / "pg", port=second.port) as third:
        assert third.port == second.port
        with psycopg.connect(third.conninfo()) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_postgres_adopts_nothing_from_a_server_left_running(tmp_path: Path):
    orphan = EmbeddedPostgres(tmp_path / "pg")
    orphan.start()
    old_pid = orphan.pid
    assert old_pid is not None
    fresh = EmbeddedPostgres(tmp_path / "pg")
    with fresh:
        assert fresh.pid != old_pid
        assert not process_alive(old_pid)
        with psycopg.connect(fresh.conninfo()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


async def jetstream_roundtrip(url: str, publish: bytes | None) -> bytes:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        if publish is not None:
            await js.add_stream(name="DEVSTACK", subjects=["devstack.>"])
            ack = await js.publish("devstack.test", publish)
            assert ack.stream == "DEVSTACK"
        msg = await js.get_msg("DEVSTACK", seq=1)
        assert nc.max_payload == 8 * 1024 * 1024
        return bytes(msg.data or b"")
    finally:
        await nc.close()


async def test_nats_jetstream_roundtrip_and_restart_keeps_streams(tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats")
    url = await asyncio.to_thread(server.start)
    try:
        assert url == f"nats://127.0.0.1:{server.port}"
        config = server.config_path.read_text()
        assert f"listen: 127.0.0.1:{server.port}" in config
        assert "sync_interval: always" in config
        assert await jetstream_roundtrip(url, b"hello") == b"hello"
        pid = server.pid
        assert pid is not None
    finally:
        await asyncio.to_thread(server.stop)
    assert not process_alive(pid)

    again = EmbeddedNats(tmp_path / "nats")
    url = await asyncio.to_thread(again.start)
    try:
        assert await jetstream_roundtrip(url, None) == b"hello"
    finally:
        await asyncio.to_thread(again.stop)


def test_nats_clears_a_server_left_by_a_killed_run(tmp_path: Path):
    orphan = EmbeddedNats(tmp_path / "nats")
    orphan.start()
    old_pid = orphan.pid
    assert old_pid is not None
    with EmbeddedNats(tmp_path / "nats") as fresh:
        assert fresh.pid != old_pid
        assert not process_alive(old_pid)
    orphan.stop()


async def test_stack_without_services_starts_and_stops_both_servers(tmp_path: Path):
    out = io.StringIO()
    async with start_stack(tmp_path / "data", services=False, env={}, output=out) as stack:
        assert stack.postgres is not None
        assert stack.nats is not None
        pids = [stack.postgres.pid, stack.nats.pid]
        with psycopg.connect(libpq(stack.database_url)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("triage",)
        assert await jetstream_roundtrip(stack.nats_url, b"x") == b"x"
        assert set(stack.timings) == {"postgres", "nats"}
        assert "NATS_URL=" in stack.banner()
    assert all(pid is not None and not process_alive(pid) for pid in pids)
    assert "postgres ready in" in out.getvalue()


async def test_stack_uses_external_servers_when_given(tmp_path: Path):
    external = {"DATABASE_URL": "postgresql://u@db.invalid/x", "NATS_URL": "nats://n.invalid:1"}
    async with start_stack(tmp_path, services=False, env=external, output=io.StringIO()) as stack:
        assert stack.postgres is None
        assert stack.nats is None
        assert stack.database_url == "postgresql+psycopg://u@db.invalid/x"
        assert stack.nats_url == "nats://n.invalid:1"


def read_until(proc: subprocess.Popen[str], done: Callable[[str], bool]) -> str:
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:
        seen += line
        if done(line):
            return seen
    raise AssertionError(f"process ended before the expected line:\n{seen}")


def test_make_run_without_services_stops_everything_on_ctrl_c(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triage.devstack",
            "run",
            "--data-dir",
            str(tmp_path),
            "--no-services",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        read_until(proc, lambda line: line.startswith("  export DATABASE_URL="))
        postmaster = int((tmp_path / "postgres" / "postmaster.pid").read_text().split()[0])
        nats_pid = int((tmp_path / "nats" / "nats-server.pid").read_text().split()[0])
        assert process_alive(postmaster)
        assert process_alive(nats_pid)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, rest
    assert "stopping" in rest
    wait_gone(postmaster)
    wait_gone(nats_pid)
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600


FAKE_SERVICE = """
import asyncio, json, os, sys
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

name = os.environ["TRIAGE_SERVICE_NAME"]
out = Path(os.environ["FAKE_OUT"])
if sys.argv[1:] == ["migrate"]:
    (out / f"{name}.migrated").write_text("yes")
    print(f"{name} migrated")
    raise SystemExit(0)


async def main() -> None:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port("127.0.0.1:" + os.environ["TRIAGE_GRPC_PORT"])
    await server.start()
    env = {k: v for k, v in os.environ.items() if k.startswith("TRIAGE_")}
    (out / f"{name}.env.json").write_text(json.dumps(env))
    print(f"{name} serving", flush=True)
    await server.wait_for_termination()


asyncio.run(main())
"""


def fake_services(root: Path) -> Path:
    """A stand-in ``services`` package: migrates, serves gRPC health, records its env."""
    (root / "services").mkdir(parents=True)
    (root / "services" / "__init__.py").write_text("")
    for name in SERVICE_NAMES:
        package = root / "services" / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "__main__.py").write_text(FAKE_SERVICE)
    return root


async def test_stack_migrates_supervises_and_stops_the_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")} | {
        "FAKE_OUT": str(out_dir)
    }
    ports = Ports.free()
    output = io.StringIO()
    policy = RestartPolicy(initial_backoff=0.05)
    async with start_stack(
        tmp_path / "data",
        seed=False,
        env=env,
        ports=ports,
        output=output,
        policy=policy,
        cwd=fake_services(tmp_path / "code"),
    ) as stack:
        assert stack.services == SERVICE_NAMES
        assert all((out_dir / f"{n}.migrated").exists() for n in SERVICE_NAMES)
        ingest_env = json.loads((out_dir / "ingest.env.json").read_text())
        assert ingest_env["TRIAGE_DATABASE_URL"] == stack.database_url
        assert ingest_env["TRIAGE_NATS_URL"] == stack.nats_url
        assert ingest_env["TRIAGE_GRPC_PORT"] == str(ports.grpc["ingest"])
        assert ingest_env["TRIAGE_HTTP_PORT"] == str(ports.http)
        assert ingest_env["TRIAGE_SECRETS_KEY"] == stack.keys.secrets_key

        victim = stack.supervisor.pid("rules")
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while stack.supervisor.restarts("rules") < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await wait_healthy(stack.endpoints, ("rules",), within=10)
        pids = [stack.supervisor.pid(n) for n in SERVICE_NAMES]
        # No demo tenant, so no tenant token to export (the admin example names its own).
        banner = stack.banner().replace('TRIAGE_TOKEN="$TRIAGE_ADMIN_TOKEN"', "")
        assert "TRIAGE_TOKEN" not in banner
        assert f"TRIAGE_INGEST_ADDR=127.0.0.1:{ports.grpc['ingest']}" in stack.banner()
    assert all(pid is not None and not process_alive(pid) for pid in pids)
    text = output.getvalue()
    assert "ingest   | ingest migrated" in text
    assert "notify   | notify serving" in text
    assert "rules exited with code -9; restarting" in text
    with pytest.raises(RuntimeError, match="seeding needs the ingest service"):
        await seed_demo(stack.endpoints, connect_within=0.5)
