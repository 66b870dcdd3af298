"""Service settings, read from the environment (prefix ``TRIAGE_``) only when built."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field, RootModel, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Peers(RootModel[dict[str, str]]):
    """gRPC addresses (``host:port``) of the other services by name, from
    ``TRIAGE_PEERS__<NAME>=host:port``."""

    def address(self, name: str) -> str:
        """The address of peer ``name``; LookupError naming the setting when it is unset."""
        found = self._get(name)
        if found is None:
            raise LookupError(f"no address for peer {name!r}: set TRIAGE_PEERS__{name.upper()}")
        return found

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` that have no address."""
        return [n for n in names if self._get(n) is None]

    def _get(self, name: str) -> str | None:
        # The environment's keys arrive lower-cased (TRIAGE_PEERS__INGEST -> "ingest").
        return self.root.get(name) or self.root.get(name.lower()) or None


class Settings(BaseSettings):
    """Everything a service needs to run; build it explicitly with ``Settings()``."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    service_name: str = "triage"
    env: str = "dev"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/triage"
    database_pool_size: int = 10
    #: A statement run this many times on a connection is prepared on the server (parsed and
    #: planned once). 0 turns it off, e.g. behind PgBouncer older than 1.21 in transaction mode.
    database_prepare_threshold: int = Field(default=5, ge=0)
    nats_url: str = "nats://127.0.0.1:4222"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    metrics_port: int = 0
    auth_signing_key: SecretStr = SecretStr("dev-insecure-signing-key-change-me-0123456789")
    auth_previous_signing_keys: list[SecretStr] = Field(default_factory=list)
    auth_issuer: str = "triage"
    secrets_key: SecretStr = SecretStr("")
    secrets_previous_keys: list[SecretStr] = Field(default_factory=list)
    peers: Peers = Field(default_factory=lambda: Peers({}))
    otlp_endpoint: str | None = None
    log_level: str = "INFO"
    #: Added to the process's CPU niceness at start (0-19), and to its scheduler
    #: autogroup's when it leads its session (triage.runtime.priority). Where services
    #: share cores (the dev stack, one small VM), the consumers run nicer than ingest, so
    #: a webhook's answer never queues behind a consumer's batch; they catch up after.
    cpu_nice: int = Field(default=0, ge=0, le=19)
    shutdown_grace_seconds: float = 10.0
    #: Partitions of every stream (the ceiling of one consumer group's parallelism across
    #: replicas); the same on every service. See deploy/README.md, "Scaling".
    partitions: int = Field(default=16, ge=1, le=1024)
    consumer_batch_size: int = 256
    consumer_max_deliveries: int = 10
    outbox_retention_hours: int = 72
    #: How long each service keeps its audit log entries (``TRIAGE_AUDIT_RETENTION_DAYS``).
    audit_retention_days: int = Field(default=400, ge=1, le=36500)
