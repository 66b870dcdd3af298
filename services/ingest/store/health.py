"""Whether the database answers (readiness)."""

from __future__ import annotations

from sqlalchemy import text

from triage.runtime import Database


async def ping(db: Database) -> None:
    """Run a trivial statement on a fresh connection; raises if the database is down."""
    async with db.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
