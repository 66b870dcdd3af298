"""The outbox's pending queue: publishing deletes a narrow id instead of rewriting the row."""

from services.notify.models import SCHEMA
from triage.runtime import upgrade_outbox_to_pending

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Create ``outbox_pending`` and queue the unpublished rows (see the helper)."""
    upgrade_outbox_to_pending(SCHEMA)
