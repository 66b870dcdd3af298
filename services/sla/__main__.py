"""``python -m services.sla`` serves; ``python -m services.sla migrate`` migrates."""

import sys
from pathlib import Path

from services.sla.models import SCHEMA, outbox
from services.sla.wiring import wire
from triage.runtime.main import service_main

MIGRATIONS = str(Path(__file__).parent / "migrations")

if __name__ == "__main__":
    sys.exit(
        service_main(
            sys.argv[1:],
            name="sla",
            schema=SCHEMA,
            migrations=Path(MIGRATIONS),
            outbox=outbox,
            wire=wire,
        )
    )
