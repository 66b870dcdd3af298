"""``python -m services.notify`` serves; ``python -m services.notify migrate`` migrates."""

import sys

from services.notify.wiring import SPEC
from triage.runtime import service_main

if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], SPEC))
