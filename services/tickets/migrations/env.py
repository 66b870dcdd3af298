"""Alembic environment of the tickets schema."""

from services.tickets.models import metadata
from triage.runtime import run_env

run_env(metadata)
