"""``python -m services.rules`` serves; ``python -m services.rules migrate`` migrates."""

import sys
from pathlib import Path

from services.rules.models import SCHEMA, outbox
from services.rules.wiring import wire
from triage.runtime.main import service_main

MIGRATIONS = str(Path(__file__).parent / "migrations")

if __name__ == "__main__":
    sys.exit(
        service_main(
            sys.argv[1:],
            name="rules",
            schema=SCHEMA,
            migrations=Path(MIGRATIONS),
            outbox=outbox,
            wire=wire,
        )
    )
