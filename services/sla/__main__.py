"""``python -m services.sla`` serves; ``python -m services.sla migrate`` migrates."""

import sys

from services.sla.wiring import SPEC
from triage.runtime import service_main

if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], SPEC))
