"""Alembic environment of the notify schema."""

from services.notify.models import metadata
from triage.runtime import run_env

run_env(metadata)
