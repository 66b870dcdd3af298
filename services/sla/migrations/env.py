"""Alembic environment of the sla schema."""

from services.sla.models import metadata
from triage.runtime import run_env

run_env(metadata)
