"""``python -m services.tickets`` serves; ``python -m services.tickets migrate`` migrates."""

import sys

from services.tickets.wiring import SPEC
from triage.runtime import service_main

if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], SPEC))
