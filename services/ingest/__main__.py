"""``python -m services.ingest`` serves; ``python -m services.ingest migrate`` migrates."""

import sys

from services.ingest.wiring import SPEC
from triage.runtime import service_main

if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], SPEC))
