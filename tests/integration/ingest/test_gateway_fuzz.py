"""Property suite per provider: hostile keys and values never make the in-process gateway
answer 5xx, and an answer is all or nothing (a 202's alerts stored with their body and
event, anything else storing nothing)."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.ledger import libpq, snapshot, stored_alerts
from tests.integration.ingest.nasty import bodies

pytestmark = pytest.mark.integration

PROVIDERS = ("ninjaone", "tacticalrmm", "datto", "level", "alertmanager", "generic", "ncentral")
CONTENT_TYPE = {"ncentral": "application/xml"}
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


async def _check(ingest: Ingest, provider: str, body: bytes) -> None:
    integration_id, secret = await ingest.integration(provider)
    headers = {"content-type": CONTENT_TYPE.get(provider, "application/json")}
    async with await psycopg.AsyncConnection.connect(
        libpq(ingest.svc.settings.database_url), autocommit=True
    ) as conn:
        before = await snapshot(conn)
        response = await ingest.post(provider, integration_id, body, secret=secret, headers=headers)
        after = await snapshot(conn)
        assert response.status_code < 500, response.text
        new_alerts = after.alerts - before.alerts
        if response.status_code != 202:
            assert response.headers["content-type"] == "application/problem+json"
            assert after == before
            return
        answered = set(response.json()["alert_ids"])
        assert answered <= after.alerts
        assert new_alerts <= answered
        assert len(after.bodies - before.bodies) == (1 if new_alerts else 0)
        for alert in await stored_alerts(conn, sorted(new_alerts)):
            assert alert.raw_body == body
            assert alert.has_event


def _suite(provider: str) -> object:
    @EXAMPLES
    @given(body=bodies(provider))
    async def test(ingest: Ingest, body: bytes) -> None:
        await _check(ingest, provider, body)

    test.__doc__ = f"Hostile {provider} bodies: never 5xx, never half-stored."
    return test


test_ninjaone = _suite("ninjaone")
test_tacticalrmm = _suite("tacticalrmm")
test_datto = _suite("datto")
test_level = _suite("level")
test_alertmanager = _suite("alertmanager")
test_generic = _suite("generic")
test_ncentral = _suite("ncentral")
