"""``python -m services.rules`` serves; ``python -m services.rules migrate`` migrates."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from services.rules.models import SCHEMA, outbox
from services.rules.wiring import wire
from triage.runtime.app import run_service
from triage.runtime.config import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, Settings
from triage.runtime.db import sqlalchemy_url
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox

MIGRATIONS = str(Path(__file__).parent / "migrations")


def build_settings() -> Settings:
    """Settings from the environment, with the rules service's own defaults."""
    defaults = {
        "service_name": "rules",
        "grpc_port": DEFAULT_GRPC_PORTS["rules"],
        "metrics_port": DEFAULT_METRICS_PORTS["rules"],
    }
    settings = Settings()
    unset = {k: v for k, v in defaults.items() if f"TRIAGE_{k.upper()}" not in os.environ}
    settings = settings.model_copy(update=unset)
    return settings.model_copy(update={"database_url": sqlalchemy_url(settings.database_url)})


def migrate(settings: Settings) -> None:
    """Apply the rules schema's pending migrations."""
    upgrade(settings.database_url, schema=SCHEMA, script_location=MIGRATIONS)


def main(argv: list[str]) -> int:
    """Serve, or migrate with ``migrate``."""
    settings = build_settings()
    if argv[:1] == ["migrate"]:
        migrate(settings)
        return 0
    if argv:
        sys.stderr.write(f"usage: python -m services.rules [migrate] (got {argv!r})\n")
        return 2
    asyncio.run(run_service(settings, schema=SCHEMA, outbox=Outbox(outbox), wire=wire))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
