"""Pure parts of the dev stack: service environment, keys, ports, banner."""

from __future__ import annotations

import base64
import io
import stat
import sys
from pathlib import Path

import pytest

from triage.devstack.endpoints import Endpoints, Ports
from triage.devstack.postgres import extra_settings
from triage.devstack.seed import SeedResult
from triage.devstack.stack import Keys, Stack, build_service_env, load_or_create_keys
from triage.devstack.supervisor import Supervisor
from triage.mesh import SERVICE_NAMES
from triage.runtime.auth import TokenAuthority
from triage.runtime.config import Settings

KEYS = Keys(auth_signing_key="sign", secrets_key=base64.b64encode(b"k" * 32).decode())


def env_for(name: str, base: dict[str, str] | None = None) -> dict[str, str]:
    return build_service_env(
        name,
        database_url="postgresql+psycopg://postgres@/triage?host=/s&port=5",
        nats_url="nats://127.0.0.1:4",
        ports=Ports.default(),
        keys=KEYS,
        base_env=base,
    )


def test_service_env_has_every_setting_and_all_peers():
    env = env_for("tickets", {"PATH": "/bin", "TRIAGE_GRPC_PORT": "1"})
    assert env["PATH"] == "/bin"
    assert env["TRIAGE_SERVICE_NAME"] == "tickets"
    assert env["TRIAGE_ENV"] == "dev"
    assert env["TRIAGE_GRPC_PORT"] == "50053"
    assert env["TRIAGE_METRICS_PORT"] == "9403"
    assert env["TRIAGE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["TRIAGE_NATS_URL"] == "nats://127.0.0.1:4"
    assert env["TRIAGE_AUTH_SIGNING_KEY"] == "sign"
    assert env["TRIAGE_SECRETS_KEY"] == KEYS.secrets_key
    assert "TRIAGE_HTTP_PORT" not in env
    peers = {k: v for k, v in env.items() if k.startswith("TRIAGE_PEERS__")}
    assert peers == {
        f"TRIAGE_PEERS__{n.upper()}": f"127.0.0.1:{50051 + i}" for i, n in enumerate(SERVICE_NAMES)
    }


def test_only_ingest_gets_the_http_port():
    assert env_for("ingest")["TRIAGE_HTTP_PORT"] == "8080"
    assert all("TRIAGE_HTTP_PORT" not in env_for(n) for n in SERVICE_NAMES if n != "ingest")


def test_consumers_run_nicer_than_the_webhook_gateway():
    assert "TRIAGE_CPU_NICE" not in env_for("ingest")
    assert {env_for(n)["TRIAGE_CPU_NICE"] for n in SERVICE_NAMES if n != "ingest"} == {"5"}
    # An operator's explicit choice wins.
    assert env_for("sla", {"TRIAGE_CPU_NICE": "0"})["TRIAGE_CPU_NICE"] == "0"


def test_service_env_is_what_the_runtime_settings_read(monkeypatch: pytest.MonkeyPatch):
    for key, value in env_for("sla").items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.service_name == "sla"
    assert settings.grpc_port == 50054
    assert settings.metrics_port == 9404
    assert settings.peers.address("notify") == "127.0.0.1:50055"
    assert settings.secrets_key.get_secret_value() == KEYS.secrets_key


def test_keys_are_created_private_and_reused(tmp_path: Path):
    path = tmp_path / "data" / "keys.json"
    first = load_or_create_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(first.secrets_key)) == 32
    assert len(first.auth_signing_key) >= 32
    assert load_or_create_keys(path) == first
    assert load_or_create_keys(tmp_path / "other.json") != first


def test_unreadable_keys_are_not_replaced(tmp_path: Path):
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(RuntimeError, match="unreadable"):
        load_or_create_keys(path)
    assert path.read_text() == "{not json"


def test_free_ports_are_distinct():
    ports = Ports.free()
    assert len(set(ports.all())) == 2 * len(SERVICE_NAMES) + 1
    endpoints = Endpoints.from_ports(ports)
    assert endpoints.grpc["rules"] == f"127.0.0.1:{ports.grpc['rules']}"
    assert endpoints.http == f"http://127.0.0.1:{ports.http}"


def make_stack(services: tuple[str, ...], seed: SeedResult | None) -> Stack:
    return Stack(
        data_dir=Path("/d"),
        database_url="postgresql+psycopg://postgres@/triage?host=/d&port=5",
        nats_url="nats://127.0.0.1:4",
        ports=Ports.default(),
        keys=KEYS,
        supervisor=Supervisor(output=io.StringIO(), color=False),
        services=services,
        seed=seed,
    )


def test_banner_prints_the_export_line_and_the_curl():
    seed = SeedResult("t-1", "tok en", "i-1", "s", "curl -X POST http://127.0.0.1:8080/x")
    banner = make_stack(SERVICE_NAMES, seed).banner()
    assert f"export PATH={Path(sys.executable).parent}:$PATH " in banner
    assert "TRIAGE_TOKEN='tok en' TRIAGE_INGEST_ADDR=127.0.0.1:50051" in banner
    assert "TRIAGE_NOTIFY_ADDR=127.0.0.1:50055" in banner
    assert "TRIAGE_GATEWAY_URL=http://127.0.0.1:8080" in banner  # for `triage health`
    assert "  curl -X POST http://127.0.0.1:8080/x" in banner


def test_banner_without_services_exports_the_server_urls():
    banner = make_stack((), None).banner()
    assert "export DATABASE_URL='postgresql+psycopg://" in banner
    assert "NATS_URL=nats://127.0.0.1:4" in banner


def test_extra_postgres_settings_parse_and_reject_garbage():
    assert extra_settings("") == {}
    assert extra_settings(" a=1 ; b = x=y ;") == {"a": "1", "b": "x=y"}
    with pytest.raises(ValueError, match="key=value"):
        extra_settings("shared_preload_libraries")


def test_banner_prints_an_admin_token_signed_with_the_stack_key():
    stack = make_stack(SERVICE_NAMES, None)
    stack.keys = Keys(auth_signing_key="s" * 40, secrets_key=KEYS.secrets_key)
    banner = stack.banner()
    assert "Administrator token" in banner
    line = next(x for x in banner.splitlines() if "export TRIAGE_ADMIN_TOKEN=" in x)
    token = line.split("=", 1)[1].strip("'\" ")
    principal = TokenAuthority("s" * 40).verify(token)
    assert principal.scopes == {"admin"} and principal.tenant_id is None
    assert principal.token_id
