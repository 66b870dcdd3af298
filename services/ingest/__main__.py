"""``python -m services.ingest`` serves; ``python -m services.ingest migrate`` migrates."""

from __future__ import annotations

import sys
from pathlib import Path

from services.ingest.models import SCHEMA, outbox
from services.ingest.wiring import wire
from triage.runtime.app import run_service
from triage.runtime.config import Settings
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox


def main(argv: list[str]) -> int:
    """Entry point."""
    settings = Settings()
    if argv[:1] == ["migrate"]:
        upgrade(
            settings.database_url,
            schema=SCHEMA,
            script_location=str(Path(__file__).parent / "migrations"),
        )
        return 0
    import uvloop

    uvloop.run(run_service(settings, schema=SCHEMA, outbox=Outbox(outbox), wire=wire))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
