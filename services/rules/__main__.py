"""``python -m services.rules`` serves; ``python -m services.rules migrate`` migrates."""

import sys

from services.rules.wiring import SPEC
from triage.runtime import service_main

if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], SPEC))
