"""Audit log (issue 18): every mutating RPC this service served, recorded by the runtime."""

from services.tickets.models import SCHEMA
from triage.runtime import create_audit_log

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    """Create ``audit_log`` with row-level security (see the helper)."""
    create_audit_log(SCHEMA)
