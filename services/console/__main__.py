"""``python -m services.console``: serve the web console."""

import sys

from services.console.server import main

sys.exit(main(sys.argv[1:]))
