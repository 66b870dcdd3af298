"""The one entry point of every service: ``python -m services.<name> [migrate]``."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from triage.runtime.app import run_service
from triage.runtime.config import Settings
from triage.runtime.db import sqlalchemy_url
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox
from triage.runtime.priority import lower_cpu_priority
from triage.runtime.spec import ServiceSpec


def service_settings(spec: ServiceSpec) -> Settings:
    """Settings from the environment, with the service's own name and default ports."""
    settings = Settings()
    defaults: dict[str, object] = {
        "service_name": spec.name,
        "grpc_port": spec.grpc_port,
        "metrics_port": spec.metrics_port,
    }
    unset = {k: v for k, v in defaults.items() if f"TRIAGE_{k.upper()}" not in os.environ}
    settings = settings.model_copy(update=unset)
    return settings.model_copy(update={"database_url": sqlalchemy_url(settings.database_url)})


def service_main(argv: Sequence[str], spec: ServiceSpec) -> int:
    """Serve the service ``spec`` describes until SIGTERM, or with ``migrate`` migrate its
    schema."""
    settings = service_settings(spec)
    if list(argv[:1]) == ["migrate"]:
        upgrade(settings.database_url, schema=spec.schema, script_location=str(spec.migrations))
        return 0
    if argv:
        sys.stderr.write(f"usage: python -m services.{spec.name} [migrate] (got {list(argv)!r})\n")
        return 2
    if missing := settings.peers.missing(spec.peers):
        names = ", ".join(f"TRIAGE_PEERS__{name.upper()}" for name in missing)
        sys.stderr.write(f"{spec.name} calls {', '.join(missing)}: set {names} (host:port)\n")
        return 2
    import uvloop

    lower_cpu_priority(settings.cpu_nice)

    # Long-lived objects built at start (modules, compiled protos, SQLAlchemy tables) leave
    # the collector's generations; fewer, larger young collections keep pauses short.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    service = run_service(
        settings,
        schema=spec.schema,
        outbox=Outbox(spec.outbox),
        wire=spec.wire,
        streams=spec.streams,
    )
    uvloop.run(service)
    return 0
