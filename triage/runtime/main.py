"""The one entry point of every service: ``python -m services.<name> [migrate]``."""

from __future__ import annotations

import gc
import importlib
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
from triage.runtime.priority import lower_cpu_priority


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


def service_main(argv: Sequence[str], name: str) -> int:
    """Serve ``services.<name>`` until SIGTERM, or with ``migrate`` migrate its schema.

    By convention a service package has ``models`` (``SCHEMA``, ``outbox``), ``wiring``
    (``wire``) and a ``migrations/`` folder.
    """
    package = f"services.{name}"
    models = importlib.import_module(f"{package}.models")
    wiring = importlib.import_module(f"{package}.wiring")
    schema: str = models.SCHEMA
    outbox: Table = models.outbox
    wire: Wiring = wiring.wire
    migrations = Path(str(models.__file__)).parent / "migrations"
    settings = service_settings(name)
    if list(argv[:1]) == ["migrate"]:
        upgrade(settings.database_url, schema=schema, script_location=str(migrations))
        return 0
    if argv:
        sys.stderr.write(f"usage: python -m services.{name} [migrate] (got {list(argv)!r})\n")
        return 2
    import uvloop

    lower_cpu_priority(settings.cpu_nice)

    # Long-lived objects built at start (modules, compiled protos, SQLAlchemy tables) leave
    # the collector's generations; fewer, larger young collections keep pauses short.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    uvloop.run(run_service(settings, schema=schema, outbox=Outbox(outbox), wire=wire))
    return 0
