"""Partition leases: one reader per stream partition across replicas, fenced."""

from services.tickets.models import SCHEMA
from triage.runtime import create_consumer_leases

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Create ``consumer_leases`` and ``consumer_members`` (see the helper)."""
    create_consumer_leases(SCHEMA)
