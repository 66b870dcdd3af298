"""Regression tests for issue 14's gateway findings: what one tenant sends cannot fail,
stall or bloat another's webhooks, and query-string secrets can be turned off."""

from __future__ import annotations

import asyncio

import orjson
import psycopg
import pytest
from google.protobuf import field_mask_pb2

from tests.integration.ingest.conftest import Ingest, ninja_trigger
from tests.integration.ingest.ledger import libpq
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration

# Finding 2: bodies that answered 503 (a NUL or a lone surrogate in a key or label value).
UNSTORABLE_TEXT = {
    "datto": b'{"alert_uid":"r1","alert_message":"m","k\\u0000":"x"}',
    "generic": (
        b'{"event_action":"trigger","dedup_key":"r5","payload":{"summary":"s",'
        b'"custom_details":{"\\ud800":"v"}}}'
    ),
    "alertmanager": b'{"alerts":[{"status":"firing","labels":{"alertname":"\\ud800"}}]}',
}


def _storable(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


async def test_nul_and_lone_surrogates_in_keys_and_labels_are_stored_cleaned(
    ingest: Ingest,
) -> None:
    for provider, body in UNSTORABLE_TEXT.items():
        integration_id, secret = await ingest.integration(provider)
        response = await ingest.post(provider, integration_id, body, secret=secret)
        assert response.status_code == 202, (provider, response.text)
        listed = await ingest.stub.ListAlertEvents(
            api.ListAlertEventsRequest(integration_id=integration_id),
            metadata=ingest.md("ingest:read"),
        )
        assert len(listed.alert_events) == 1
        alert = listed.alert_events[0]
        texts = [alert.condition, alert.summary, *alert.labels.keys(), *alert.labels.values()]
        assert all(_storable(t) for t in texts), (provider, texts)


async def test_one_tenants_bad_bodies_cost_another_tenant_nothing(ingest: Ingest) -> None:
    other = await ingest.new_tenant("Other MSP")
    good_id, good_secret = await ingest.integration("ninjaone")
    bad = {
        provider: await ingest.integration(provider, tenant_id=other)
        for provider in UNSTORABLE_TEXT
    }
    hostile = [(provider, body) for _ in range(10) for provider, body in UNSTORABLE_TEXT.items()]
    calls = []
    # Interleaved, so the group commit mixes both tenants' webhooks in its batches.
    for i in range(60):
        calls.append(
            ingest.post("ninjaone", good_id, ninja_trigger(f"s-{i}", i), secret=good_secret)
        )
        if i < len(hostile):
            provider, body = hostile[i]
            calls.append(ingest.post(provider, bad[provider][0], body, secret=bad[provider][1]))
    answers = await asyncio.gather(*calls)
    assert len(answers) == 90
    good_answers = [a for a in answers if a.request.url.path.endswith(good_id)]
    assert [a.status_code for a in good_answers] == [202] * 60
    statuses = [a.status_code for a in answers]
    assert all(s < 500 for s in statuses), statuses


async def _stored_body_bytes(ingest: Ingest) -> int:
    async with await psycopg.AsyncConnection.connect(
        libpq(ingest.svc.settings.database_url), autocommit=True
    ) as conn:
        row = await (
            await conn.execute(
                "SELECT coalesce(sum(octet_length(raw_body)), 0) FROM ingest.alert_events"
            )
        ).fetchone()
        total = int(row[0]) if row else 0
        has_bodies = await (
            await conn.execute("SELECT to_regclass('ingest.webhook_bodies') IS NOT NULL")
        ).fetchone()
        if has_bodies and has_bodies[0]:
            row = await (
                await conn.execute(
                    "SELECT coalesce(sum(octet_length(raw_body)), 0) FROM ingest.webhook_bodies"
                )
            ).fetchone()
            total += int(row[0]) if row else 0
        return total


async def test_a_multi_alert_body_is_stored_once(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("datto")
    body = orjson.dumps(
        [
            {"alert_uid": f"uid-{i}", "alert_message": f"disk {i} full", "device_id": f"d-{i}"}
            for i in range(50)
        ]
    )
    response = await ingest.post("datto", integration_id, body, secret=secret)
    assert response.status_code == 202, response.text
    alert_ids = response.json()["alert_ids"]
    assert len(alert_ids) == 50
    assert await _stored_body_bytes(ingest) == len(body)
    again = await ingest.post("datto", integration_id, body, secret=secret)
    assert again.json()["duplicates"] == 50
    assert await _stored_body_bytes(ingest) == len(body)
    for alert_id in (alert_ids[0], alert_ids[-1]):
        full = await ingest.stub.GetAlertEvent(
            api.GetAlertEventRequest(alert_id=alert_id, view=pb.ALERT_EVENT_VIEW_FULL),
            metadata=ingest.md("ingest:read"),
        )
        assert full.alert_event.raw_body == body


async def test_query_token_can_be_turned_off_through_the_api(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("ninjaone", allow_query_token=True)
    allowed = await ingest.post(
        "ninjaone", integration_id, ninja_trigger("s1", 1), params={"token": secret}
    )
    assert allowed.status_code == 202, allowed.text
    got = await ingest.stub.GetIntegration(
        api.GetIntegrationRequest(integration_id=integration_id), metadata=ingest.md()
    )
    assert got.integration.settings.allow_query_token
    settings = pb.IntegrationSettings()
    settings.CopyFrom(got.integration.settings)
    settings.allow_query_token = False
    updated = await ingest.stub.UpdateIntegration(
        api.UpdateIntegrationRequest(
            integration=pb.Integration(
                id=integration_id, settings=settings, etag=got.integration.etag
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["settings"]),
        ),
        metadata=ingest.md(),
    )
    assert not updated.integration.settings.allow_query_token
    refused = await ingest.post(
        "ninjaone", integration_id, ninja_trigger("s2", 2), params={"token": secret}
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    header = await ingest.post("ninjaone", integration_id, ninja_trigger("s3", 3), secret=secret)
    assert header.status_code == 202


async def test_query_token_is_refused_unless_the_integration_allows_it(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("ninjaone")
    got = await ingest.stub.GetIntegration(
        api.GetIntegrationRequest(integration_id=integration_id), metadata=ingest.md()
    )
    assert not got.integration.settings.allow_query_token
    refused = await ingest.post(
        "ninjaone", integration_id, ninja_trigger(), params={"token": secret}
    )
    assert refused.status_code == 401


async def test_more_alerts_than_one_webhook_may_carry_is_413_and_stores_nothing(
    ingest: Ingest,
) -> None:
    integration_id, secret = await ingest.integration("datto")
    body = orjson.dumps([{"alert_uid": f"u{i}", "alert_message": "m"} for i in range(1001)])
    response = await ingest.post("datto", integration_id, body, secret=secret)
    assert response.status_code == 413, response.text
    assert response.json()["limit"] == 1000
    assert await _stored_body_bytes(ingest) == 0
