"""The one entry point of every service: ``python -m services.<name> [migrate]``."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Table

from triage.runtime.app import Wiring, run_service
from triage.runtime.config import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, Settings
from triage.runtime.db import sqlalchemy_url
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox


def service_settings(name: str) -> Settings:
    """Settings from the environment, with the service's own name and default ports."""
    settings = Settings()
    defaults: dict[str, object] = {
        "service_name": name,
        "grpc_port": DEFAULT_GRPC_PORTS.get(name, settings.grpc_port),
        "metrics_port": DEFAULT_METRICS_PORTS.get(name, settings.metrics_port),
    }
    unset = {k: v for k, v in defaults.items() if f"TRIAGE_{k.upper()}" not in os.environ}
    settings = settings.model_copy(update=unset)
    return settings.model_copy(update={"database_url": sqlalchemy_url(settings.database_url)})


def service_main(
    argv: Sequence[str],
    *,
    name: str,
    schema: str,
    migrations: Path,
    outbox: Table,
    wire: Wiring,
) -> int:
    """Serve until SIGTERM, or with ``migrate`` apply the schema's migrations and exit."""
    settings = service_settings(name)
    if list(argv[:1]) == ["migrate"]:
        upgrade(settings.database_url, schema=schema, script_location=str(migrations))
        return 0
    if argv:
        sys.stderr.write(f"usage: python -m services.{name} [migrate] (got {list(argv)!r})\n")
        return 2
    import uvloop

    uvloop.run(run_service(settings, schema=schema, outbox=Outbox(outbox), wire=wire))
    return 0
