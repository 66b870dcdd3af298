"""A polled alert and the webhook for the same provider alert are the same alert.

Each test seeds a fake API with the alert a webhook corpus file describes, polls it
through the real client, normalizes the polled body with the provider's webhook
normalizer and compares the keys the reconciliation uses (docs/POLLING.md).
"""

from __future__ import annotations

from typing import Any

import orjson

from services.ingest.clients.poll import PollCredentials, client_for, reconcile_key
from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Provider, delivery_keys
from tests.fakes.rmm import (
    FakeApi,
    FakeDatto,
    FakeHuntress,
    FakeLevel,
    FakeNinjaOne,
    FakeTacticalRmm,
    datto_alert,
    incident_report,
    level_alert,
    ninja_alert,
    tactical_alert,
)

from ..helpers import body, one, run


async def _polled(
    provider: Provider, fake: FakeApi, credentials: PollCredentials, api_alert: dict[str, Any]
) -> tuple[NormalizedAlert, str]:
    fake.alerts = [api_alert]
    async with fake.client() as http:
        (active,) = await client_for(provider.value, credentials, http).list_active()
    (alert,) = run(provider, active.body())
    return alert, active.delivery_key


def _webhook(provider: Provider, name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(body(provider, name))
    return parsed


async def test_ninjaone_matches_on_device_and_condition() -> None:
    p = Provider.NINJAONE
    hook = _webhook(p, "no_series_triggered.json")
    api = ninja_alert("9e3a-uid", hook["deviceId"], hook["sourceConfigUid"], device=None)
    polled, key = await _polled(
        p, FakeNinjaOne(), PollCredentials(FakeApi.origin, "ninja-client", "ninja-secret"), api
    )
    webhook = one(p, "no_series_triggered.json")
    assert polled.kind is AlertKind.TRIGGER
    assert polled.series_key == webhook.series_key
    assert reconcile_key("ninjaone", polled) == reconcile_key("ninjaone", webhook)
    assert polled.source_ref == "9e3a-uid"
    assert polled.provider_event_id == key == "poll:9e3a-uid"


async def test_ninjaone_webhook_with_series_uid_still_reconciles() -> None:
    p = Provider.NINJAONE
    hook = _webhook(p, "condition_triggered.json")
    api = ninja_alert("9e3a-uid", hook["deviceId"], hook["sourceConfigUid"])
    polled, _ = await _polled(
        p, FakeNinjaOne(), PollCredentials(FakeApi.origin, "ninja-client", "ninja-secret"), api
    )
    webhook = one(p, "condition_triggered.json")
    # The alerts API exposes no seriesUid: series differ, the reconciliation key does not.
    assert polled.series_key != webhook.series_key
    assert reconcile_key("ninjaone", polled) == reconcile_key("ninjaone", webhook)
    assert (polled.client_id, polled.site_id) == (webhook.client_id, webhook.site_id)


async def test_datto_polled_alert_is_the_webhook_series() -> None:
    p = Provider.DATTO
    hook = _webhook(p, "webhook_trigger.json")
    api = datto_alert(hook["alert_uid"], hook["device_id"])
    polled, key = await _polled(
        p, FakeDatto(), PollCredentials(FakeApi.origin, "datto-key", "datto-secret"), api
    )
    webhook = one(p, "webhook_trigger.json")
    assert polled.kind is AlertKind.TRIGGER
    assert polled.series_key == webhook.series_key == hook["alert_uid"]
    assert polled.device_id == webhook.device_id
    assert polled.source_ref == webhook.source_ref
    assert reconcile_key("datto", polled) == reconcile_key("datto", webhook)
    assert key == f"poll:{hook['alert_uid']}"


async def test_datto_polled_body_is_stable_while_the_alert_stays_open() -> None:
    fake = FakeDatto()
    fake.alerts = [datto_alert("a-1")]
    credentials = PollCredentials(FakeApi.origin, "datto-key", "datto-secret")
    async with fake.client() as http:
        client = client_for("datto", credentials, http)
        (first,) = await client.list_active()
        fake.alerts[0].update(muted=True, ticketNumber="T-9")
        (second,) = await client.list_active()
    assert first.body() == second.body()


async def test_tactical_polled_alert_is_the_webhook_series() -> None:
    p = Provider.TACTICALRMM
    hook = _webhook(p, "check_failure.json")
    api = tactical_alert(int(hook["alert_id"]), hook["agent_id"], assigned_check=412)
    polled, _ = await _polled(
        p, FakeTacticalRmm(), PollCredentials(FakeApi.origin, secret="tactical-key"), api
    )
    webhook = one(p, "check_failure.json")
    assert polled.kind is AlertKind.TRIGGER
    assert polled.series_key == webhook.series_key
    assert polled.condition == webhook.condition == "check:412"
    assert polled.severity == webhook.severity
    assert (polled.client_name, polled.site_name) == (webhook.client_name, webhook.site_name)
    assert reconcile_key("tacticalrmm", polled) == reconcile_key("tacticalrmm", webhook)


async def test_level_polled_alert_is_the_webhook_series() -> None:
    p = Provider.LEVEL
    hook = _webhook(p, "alert_active.json")
    api = level_alert(hook["data"]["id"], hook["data"]["device_id"])
    polled, key = await _polled(
        p, FakeLevel(), PollCredentials(FakeApi.origin, secret="level-key"), api
    )
    webhook = one(p, "alert_active.json")
    assert polled.kind is AlertKind.TRIGGER
    assert polled.series_key == webhook.series_key
    assert polled.condition == webhook.condition
    assert polled.severity == webhook.severity
    assert polled.occurred_at == webhook.occurred_at
    assert polled.provider_event_id == key


async def test_huntress_poll_and_webhook_share_series_and_delivery_key() -> None:
    p = Provider.HUNTRESS
    api = incident_report(48213, organization_id=3307, agent_id=551902)
    polled, key = await _polled(p, FakeHuntress(), PollCredentials(FakeApi.origin, "hk", "hs"), api)
    webhook = one(p, "incident_created.json")
    assert polled.kind is AlertKind.TRIGGER
    assert polled.series_key == webhook.series_key
    assert (polled.device_id, polled.client_id) == (webhook.device_id, webhook.client_id)
    raw = body(p, "incident_created.json")
    assert delivery_keys("integration", raw, [webhook]) == [key]
    assert delivery_keys("integration", b"polled", [polled]) == [key]


async def test_tactical_template_without_alert_id_still_reconciles() -> None:
    p = Provider.TACTICALRMM
    hook = _webhook(p, "check_failure.json")
    del hook["alert_id"]
    (webhook,) = run(p, orjson.dumps(hook))
    api = tactical_alert(1873, hook["agent_id"], assigned_check=412)
    polled, _ = await _polled(
        p, FakeTacticalRmm(), PollCredentials(FakeApi.origin, secret="tactical-key"), api
    )
    assert polled.series_key != webhook.series_key
    assert reconcile_key("tacticalrmm", polled) == reconcile_key("tacticalrmm", webhook)
