"""``python -m services.notify`` serves; ``python -m services.notify migrate`` migrates."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from services.notify.models import SCHEMA, outbox
from services.notify.wiring import wire
from triage.runtime.app import run_service
from triage.runtime.config import Settings
from triage.runtime.migrations import upgrade

MIGRATIONS = str(Path(__file__).parent / "migrations")


def main(argv: list[str]) -> int:
    """Entry point."""
    settings = Settings()
    if argv[:1] == ["migrate"]:
        upgrade(settings.database_url, schema=SCHEMA, script_location=MIGRATIONS)
        return 0
    import uvloop

    from triage.runtime.outbox import Outbox

    uvloop.install()
    asyncio.run(run_service(settings, schema=SCHEMA, outbox=Outbox(outbox), wire=wire))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
