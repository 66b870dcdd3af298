"""The registry's sync reads the bucket's suspended tenants back, so it can clear a stale one.

``AccessPublisher.suspended()`` once listed keys with nats.py's ``keys(filters=...)``,
which matches the filter as a substring: ``suspended.>`` matched no key, the set was
always empty, and a resume whose publish was lost kept the tenant suspended for good.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest

from triage.runtime.access_list import AccessPublisher

pytestmark = pytest.mark.integration


async def test_suspended_lists_the_bucket_s_suspended_tenants(nats_url: str) -> None:
    """Suspended tenants are listed; a resumed one is not; other keys are not tenants."""
    conn = await nats.connect(nats_url)
    try:
        publisher = AccessPublisher(conn.jetstream())
        kept, resumed = str(uuid.uuid4()), str(uuid.uuid4())
        await publisher.suspend(kept, suspended=True)
        await publisher.suspend(resumed, suspended=True)
        await publisher.revoke(str(uuid.uuid4()), _later())
        listed = await publisher.suspended()
        assert {kept, resumed} <= listed
        await publisher.suspend(resumed, suspended=False)
        listed = await publisher.suspended()
        assert kept in listed and resumed not in listed
        assert all(_is_uuid(tenant) for tenant in listed)
    finally:
        await conn.close()


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
