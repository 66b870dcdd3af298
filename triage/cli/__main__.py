"""``python -m triage.cli``."""

import sys

from triage.cli.main import main

sys.exit(main())
