"""The outbox's pending queue: publishing deletes a narrow id instead of rewriting the row."""

from services.sla.models import SCHEMA
from triage.runtime import upgrade_outbox_to_pending

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Create ``outbox_pending`` and queue the unpublished rows (see the helper)."""
    upgrade_outbox_to_pending(SCHEMA)
