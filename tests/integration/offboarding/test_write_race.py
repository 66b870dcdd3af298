"""A write of a tenant admitted a moment before its deletion (another replica that had not
yet heard of it) cannot leave a row behind: a tenant transaction still open when the
deletion step begins is waited for and its rows are deleted with the rest; one that begins
after the step's tombstone is refused (PERMISSION_DENIED, TENANT_DELETED) as it binds its
tenant, in the same round trip."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import insert, text

from services.rules.models import settings
from tests.integration.offboarding.rules_step import offboarding, rows_of
from tests.integration.rules.harness import Rules
from triage.runtime.errors import PermissionDenied

pytestmark = pytest.mark.integration
WITHIN_SECONDS = 10.0


async def waits_for_a_lock(rules: Rules) -> bool:
    """Whether some session of the database waits for an advisory lock."""
    async with rules.db.system_transaction() as session:
        found = await session.execute(
            text("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )
        return found.first() is not None


async def test_a_write_under_way_when_the_deletion_begins_leaves_no_row(rules: Rules) -> None:
    tenant = str(uuid.uuid4())
    wrote, release = asyncio.Event(), asyncio.Event()

    async def late_writer() -> None:
        # Admitted before the deletion; its commit comes after the deletion step began.
        async with rules.db.transaction(tenant) as session:
            await session.execute(insert(settings).values(tenant_id=tenant))
            wrote.set()
            await release.wait()

    writer = asyncio.create_task(late_writer())
    await wrote.wait()
    deleting = asyncio.create_task(offboarding(rules).delete(tenant))
    try:
        deadline = time.monotonic() + WITHIN_SECONDS
        while not deleting.done() and not await waits_for_a_lock(rules):
            assert time.monotonic() < deadline, "the deletion neither finished nor waited"
            await asyncio.sleep(0.02)
        assert not deleting.done(), "the deletion went ahead of a write under way"
    finally:
        release.set()
        await writer
    await asyncio.wait_for(deleting, timeout=30)
    assert await rows_of(rules, tenant) == {}


async def test_a_write_that_begins_after_the_tombstone_is_refused(rules: Rules) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    await offboarding(rules).delete(gone)

    with pytest.raises(PermissionDenied) as refused:
        async with rules.db.transaction(gone) as session:
            await session.execute(insert(settings).values(tenant_id=gone))
    assert refused.value.reason == "TENANT_DELETED"
    assert await rows_of(rules, gone) == {}
    # Other tenants, and tenant-less transactions, are admitted as before.
    async with rules.db.transaction(kept) as session:
        await session.execute(insert(settings).values(tenant_id=kept))
    async with rules.db.transaction(None) as session:
        await session.execute(text("SELECT 1"))
    assert await rows_of(rules, kept) == {"tenant_settings": 1}
