"""Alembic environment of the ingest schema."""

from services.ingest.models import metadata
from triage.runtime import run_env

run_env(metadata)
