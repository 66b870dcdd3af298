"""Ports and addresses of the services in a dev stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from triage.devstack._util import LOOPBACK, free_ports
from triage.mesh import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, SERVICE_NAMES

DEFAULT_HTTP_PORT = 8080


@dataclass(frozen=True)
class Ports:
    """gRPC and metrics port of each service, and the ingest process's HTTP port."""

    grpc: Mapping[str, int]
    metrics: Mapping[str, int]
    http: int

    @classmethod
    def default(cls) -> Ports:
        """The documented local ports: gRPC 50051.., metrics 9401.., HTTP 8080."""
        return cls(dict(DEFAULT_GRPC_PORTS), dict(DEFAULT_METRICS_PORTS), DEFAULT_HTTP_PORT)

    @classmethod
    def free(cls) -> Ports:
        """Distinct free ports, for tests that run beside a ``make run``."""
        ports = free_ports(2 * len(SERVICE_NAMES) + 1)
        n = len(SERVICE_NAMES)
        return cls(
            dict(zip(SERVICE_NAMES, ports[:n], strict=True)),
            dict(zip(SERVICE_NAMES, ports[n : 2 * n], strict=True)),
            ports[-1],
        )

    def all(self) -> list[int]:
        """Every port, for checking that they are free."""
        return [*self.grpc.values(), *self.metrics.values(), self.http]


@dataclass(frozen=True)
class Endpoints:
    """Where to reach the running services."""

    grpc: Mapping[str, str]
    """``host:port`` of each service's gRPC server, by service name."""
    http: str
    """Base URL of the webhook gateway (the ingest process's HTTP face)."""
    metrics: Mapping[str, str]
    """Prometheus URL of each service, by service name."""

    @classmethod
    def from_ports(cls, ports: Ports, host: str = LOOPBACK) -> Endpoints:
        """Addresses of services listening on ``ports`` at ``host``."""
        return cls(
            grpc={name: f"{host}:{port}" for name, port in ports.grpc.items()},
            http=f"http://{host}:{ports.http}",
            metrics={name: f"http://{host}:{port}/metrics" for name, port in ports.metrics.items()},
        )
