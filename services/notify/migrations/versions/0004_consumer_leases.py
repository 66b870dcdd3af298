"""Partition leases: one reader per stream partition across replicas, fenced."""

from services.notify.models import SCHEMA
from triage.runtime import create_consumer_leases

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Create ``consumer_leases`` and ``consumer_members`` (see the helper)."""
    create_consumer_leases(SCHEMA)
