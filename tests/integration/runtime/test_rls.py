"""Row-level security: a tenant sees only its rows; no tenant bound sees none."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from tests.integration.runtime.demo_schema import SCHEMA, notes
from triage.runtime.db import Database
from triage.runtime.migrations import upgrade

pytestmark = pytest.mark.integration
MIGRATIONS = str(Path(__file__).parent / "demo_migrations")


async def test_tenants_see_only_their_rows(fresh_db: str) -> None:
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    db = Database(fresh_db, schema=SCHEMA, pool_size=2)
    tenant_a, tenant_b = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        for tenant, body in ((tenant_a, "a1"), (tenant_a, "a2"), (tenant_b, "b1")):
            async with db.transaction(tenant) as session:
                await session.execute(
                    notes.insert().values(id=str(uuid.uuid4()), tenant_id=tenant, body=body)
                )
        async with db.transaction(tenant_a) as session:
            seen_a = sorted((await session.execute(select(notes.c.body))).scalars())
        async with db.transaction(tenant_b) as session:
            seen_b = sorted((await session.execute(select(notes.c.body))).scalars())
        async with db.transaction(None) as session:
            seen_none = (await session.execute(select(func.count()).select_from(notes))).scalar()
        async with db.system_transaction() as session:
            seen_owner = (await session.execute(select(func.count()).select_from(notes))).scalar()
        assert seen_a == ["a1", "a2"]
        assert seen_b == ["b1"]
        assert seen_none == 0
        assert seen_owner == 3
    finally:
        await db.dispose()


async def test_a_tenant_cannot_write_into_another_tenant(fresh_db: str) -> None:
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    db = Database(fresh_db, schema=SCHEMA, pool_size=2)
    try:
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db.transaction(str(uuid.uuid4())) as session:
                await session.execute(
                    notes.insert().values(
                        id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()), body="forged"
                    )
                )
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db.transaction(None) as session:
                await session.execute(
                    notes.insert().values(
                        id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()), body="nobody"
                    )
                )
    finally:
        await db.dispose()


async def test_migrations_are_idempotent(fresh_db: str) -> None:
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    db = Database(fresh_db, schema=SCHEMA, pool_size=1)
    try:
        async with db.system_transaction() as session:
            version = (await session.execute(select(func.count()).select_from(notes))).scalar()
        assert version == 0
    finally:
        await db.dispose()
