"""A webhook to an integration of a deleted tenant is answered 410 tenant-deleted even once
the integration's row is gone (issue 18): ingest's deletion step records the tenant's
integrations before it deletes them. The answer names neither the tenant nor anything of it,
and an id that never existed still gets the one 401 of an unknown integration or a wrong
secret, byte for byte."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.ingest.models import outbox
from services.ingest.store.tenant_data import TENANT_DATA
from tests.integration.ingest import conftest as ingest_harness
from tests.integration.ingest.conftest import Ingest, new_id, ninja_trigger
from triage.runtime.db import Database
from triage.runtime.offboarding import TenantOffboarding
from triage.runtime.outbox import Outbox

pytestmark = pytest.mark.integration
ingest = ingest_harness.ingest
TENANT_NAME = "Leaving Ltd"


@pytest.fixture
async def db(ingest: Ingest) -> AsyncIterator[Database]:
    """A second handle on ingest's database (the test's own deletion step)."""
    handle = Database(ingest.svc.settings.database_url, schema="ingest")
    try:
        yield handle
    finally:
        await handle.dispose()


async def delete_in_ingest(db: Database, tenant_id: str) -> None:
    """Run ingest's deletion step for ``tenant_id`` (the last of the mesh's)."""
    step = TenantOffboarding(db=db, outbox=Outbox(outbox), data=TENANT_DATA, service="ingest")
    await step.delete(tenant_id)


def unauthorized(answer: httpx.Response) -> tuple[int, bytes, str | None, str | None]:
    """What a 401 shows a sender: status, body and the headers that describe it."""
    return (
        answer.status_code,
        answer.content,
        answer.headers.get("content-type"),
        answer.headers.get("www-authenticate"),
    )


async def test_a_deleted_tenants_integration_is_gone_not_unknown(
    ingest: Ingest, db: Database
) -> None:
    gone = await ingest.new_tenant(TENANT_NAME)
    integration_id, secret = await ingest.integration("ninjaone", tenant_id=gone)
    await delete_in_ingest(db, gone)

    for headers in ({"x-triage-secret": secret}, {"x-triage-secret": "wrong"}, {}):
        answer = await ingest.post(
            "ninjaone", integration_id, ninja_trigger("s-1", 1), headers=headers
        )
        assert answer.status_code == 410, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["type"].endswith("/tenant-deleted"), problem
        assert problem["reason"] == "TENANT_DELETED"
        assert gone not in answer.text and TENANT_NAME not in answer.text


async def test_an_unknown_integration_gets_the_same_401_as_before(
    ingest: Ingest, db: Database
) -> None:
    live_id, _ = await ingest.integration("ninjaone")
    gone = await ingest.new_tenant(TENANT_NAME)
    gone_id, _ = await ingest.integration("ninjaone", tenant_id=gone)
    await delete_in_ingest(db, gone)
    body = ninja_trigger("s-1", 1)

    wrong_secret = await ingest.post("ninjaone", live_id, body, secret="wrong")
    unknown = await ingest.post("ninjaone", new_id(), body, secret="wrong")
    not_an_id = await ingest.post("ninjaone", "not-a-uuid", body, secret="wrong")
    assert wrong_secret.status_code == 401
    assert unauthorized(unknown) == unauthorized(wrong_secret)
    assert unauthorized(not_an_id) == unauthorized(wrong_secret)
    assert (await ingest.post("ninjaone", gone_id, body, secret="wrong")).status_code == 410
