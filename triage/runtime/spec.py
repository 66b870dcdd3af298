"""What a service tells the runtime about itself: ``SPEC`` in ``services/<name>/wiring.py``.

The runtime knows no service by name: each one passes its spec to ``service_main`` (its
``__main__``), and the runtime takes its name, schema, ports, streams and peers from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Table

    from triage.runtime.app import Wiring


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service's identity and needs.

    ``publishes`` and ``consumes`` name event domains (``"alert"`` for ``triage.alert.>``,
    the stream TRIAGE_ALERT); ``peers`` names the services it calls, each reached at
    ``TRIAGE_PEERS__<NAME>``. The ports are defaults that ``TRIAGE_GRPC_PORT`` and
    ``TRIAGE_METRICS_PORT`` override.
    """

    name: str
    schema: str
    outbox: Table
    wire: Wiring
    migrations: Path
    grpc_port: int
    metrics_port: int = 0
    publishes: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()

    @property
    def streams(self) -> tuple[str, ...]:
        """The event domains whose streams the service needs: those it publishes, and those
        it consumes (a consumer starts before its publisher has ever run)."""
        return tuple(dict.fromkeys((*self.publishes, *self.consumes)))
