"""The demo outbox's pending queue, as every service's migration adds it."""

from tests.integration.runtime.demo_schema import SCHEMA
from triage.runtime.migrations import upgrade_outbox_to_pending

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Create ``outbox_pending`` and queue the unpublished rows."""
    upgrade_outbox_to_pending(SCHEMA)
