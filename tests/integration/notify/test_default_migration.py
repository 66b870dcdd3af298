"""Migration 0006 on a database made before it: existing channels are not defaults."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from services.notify.models import SCHEMA
from tests.conftest import _libpq
from tests.integration.notify.harness import MIGRATIONS
from triage.runtime.migrations import upgrade

pytestmark = pytest.mark.integration


def test_0006_adds_is_default_false_to_existing_channels(fresh_db: str) -> None:
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    channel_id, tenant_id = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(_libpq(fresh_db), autocommit=True) as conn:
        # The database as 0005 left it: no column, and one channel already stored.
        conn.execute("ALTER TABLE notify.channels DROP COLUMN is_default")
        conn.execute("UPDATE notify.alembic_version SET version_num = '0005'")
        conn.execute(
            "INSERT INTO notify.channels (id, tenant_id, display_name, kind, config, secrets,"
            " destination) VALUES (%s, %s, 'old', 'webhook', '{}', '', 'https://x')",
            (channel_id, tenant_id),
        )
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    with psycopg.connect(_libpq(fresh_db), autocommit=True) as conn:
        row = conn.execute(
            "SELECT is_default FROM notify.channels WHERE id = %s", (channel_id,)
        ).fetchone()
        version = conn.execute("SELECT version_num FROM notify.alembic_version").fetchone()
    assert row == (False,)
    assert version == ("0006",)
