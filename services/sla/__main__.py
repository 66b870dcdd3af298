"""``python -m services.sla`` serves; ``python -m services.sla migrate`` migrates."""

import sys
from pathlib import Path

from services.sla.wiring import SPEC
from triage.runtime import service_main

MIGRATIONS = str(Path(__file__).parent / "migrations")

if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], SPEC))
