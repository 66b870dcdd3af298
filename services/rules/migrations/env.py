"""Alembic environment of the rules schema."""

from services.rules.models import metadata
from triage.runtime.migrations import run_env

run_env(metadata)
