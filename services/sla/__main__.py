"""``python -m services.sla`` serves; ``python -m services.sla migrate`` migrates."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from services.sla.models import SCHEMA, outbox
from services.sla.wiring import wire
from triage.runtime.app import run_service
from triage.runtime.config import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, Settings
from triage.runtime.db import sqlalchemy_url
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox

MIGRATIONS = str(Path(__file__).parent / "migrations")


def settings() -> Settings:
    """Settings from the environment, with the sla service's defaults."""
    defaults = Settings()
    overrides: dict[str, object] = {}
    if "TRIAGE_SERVICE_NAME" not in os.environ:
        overrides["service_name"] = "sla"
    if "TRIAGE_GRPC_PORT" not in os.environ:
        overrides["grpc_port"] = DEFAULT_GRPC_PORTS["sla"]
    if "TRIAGE_METRICS_PORT" not in os.environ:
        overrides["metrics_port"] = DEFAULT_METRICS_PORTS["sla"]
    return defaults.model_copy(update=overrides)


def main(argv: list[str]) -> int:
    """Serve, or migrate with ``migrate``."""
    config = settings()
    if argv[:1] == ["migrate"]:
        upgrade(sqlalchemy_url(config.database_url), schema=SCHEMA, script_location=MIGRATIONS)
        return 0
    asyncio.run(run_service(config, schema=SCHEMA, outbox=Outbox(outbox), wire=wire))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
