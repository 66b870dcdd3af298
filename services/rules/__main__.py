"""``python -m services.rules`` serves; ``python -m services.rules migrate`` migrates."""

import sys
from pathlib import Path

from services.rules.wiring import SPEC
from triage.runtime import service_main

MIGRATIONS = str(Path(__file__).parent / "migrations")

if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], SPEC))
