"""What is particular to each provider's API."""

from __future__ import annotations

import httpx
import pytest

from services.ingest.clients.poll import (
    DattoClient,
    HuntressClient,
    LevelClient,
    NinjaOneClient,
    PermanentPollError,
    PollCredentials,
    TacticalRmmClient,
)
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
    serving,
    tactical_alert,
)

ORIGIN = FakeApi.origin


async def test_ninjaone_asks_for_a_client_credentials_token_with_its_scope() -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("u1", 1, "c1")]
    async with fake.client() as http:
        await NinjaOneClient(
            PollCredentials(ORIGIN, "ninja-client", "ninja-secret"), http
        ).list_active()
    (token_call,) = [c for c in fake.calls if c.path == "/ws/oauth/token"]
    assert token_call.form()["scope"] == "monitoring management"
    assert fake.api_calls()[0].headers["authorization"] == "Bearer tok-1"


async def test_datto_token_uses_the_public_client_and_the_api_key() -> None:
    fake = FakeDatto()
    async with fake.client() as http:
        await DattoClient(PollCredentials(ORIGIN, "datto-key", "datto-secret"), http).list_active()
    (token_call,) = [c for c in fake.calls if c.path == "/auth/oauth/token"]
    assert token_call.basic_auth() == ("public-client", "public")
    assert token_call.form() == {
        "grant_type": "password",
        "username": "datto-key",
        "password": "datto-secret",
    }


async def test_datto_refuses_a_next_page_on_another_host() -> None:
    fake = FakeDatto()
    fake.alerts = [datto_alert(f"a-{i}") for i in range(3)]
    fake.page_cap = 2
    fake.next_page_origin = "http://elsewhere.example"
    async with fake.client() as http:
        client = DattoClient(PollCredentials(ORIGIN, "datto-key", "datto-secret"), http)
        with pytest.raises(PermanentPollError) as raised:
            await client.list_active()
    assert raised.value.reason == "foreign_next_page"
    assert all(c.origin == ORIGIN for c in fake.calls)


async def test_tactical_lists_snoozed_alerts_too_and_skips_resolved_ones() -> None:
    fake = FakeTacticalRmm()
    fake.alerts = [
        tactical_alert(1, snoozed=True),
        tactical_alert(2),
        tactical_alert(3, resolved=True),
    ]
    async with fake.client() as http:
        alerts = await TacticalRmmClient(
            PollCredentials(ORIGIN, secret="tactical-key"), http
        ).list_active()
    assert sorted(a.alert_id for a in alerts) == ["1", "2"]
    (listing,) = fake.api_calls("PATCH")
    assert listing.json() == {"resolvedFilter": False}
    assert listing.headers["x-api-key"] == "tactical-key"


async def test_tactical_resolve_refuses_an_id_that_is_not_a_number() -> None:
    fake = FakeTacticalRmm()
    async with fake.client() as http:
        client = TacticalRmmClient(PollCredentials(ORIGIN, secret="tactical-key"), http)
        with pytest.raises(PermanentPollError) as raised:
            await client.resolve("../agents")
    assert raised.value.reason == "bad_alert_id"
    assert fake.calls == []


async def test_level_pages_with_starting_after_the_last_id() -> None:
    fake = FakeLevel()
    fake.alerts = [level_alert(f"alrt_{i}") for i in range(3)] + [
        level_alert("alrt_old", is_resolved=True)
    ]
    fake.page_cap = 2
    async with fake.client() as http:
        alerts = await LevelClient(PollCredentials(ORIGIN, secret="level-key"), http).list_active()
    assert [a.alert_id for a in alerts] == ["alrt_0", "alrt_1", "alrt_2"]
    queries = [c.query for c in fake.api_calls("GET")]
    assert queries[0] == {"status": "active", "limit": "100"}
    assert queries[1]["starting_after"] == "alrt_1"
    assert fake.api_calls()[0].headers["authorization"] == "level-key"


async def test_huntress_lists_every_open_status_with_basic_auth() -> None:
    fake = FakeHuntress()
    fake.alerts = [
        incident_report(1),
        incident_report(2, status="auto_remediating"),
        incident_report(3, status="closed"),
        incident_report(4, status="dismissed"),
    ]
    async with fake.client() as http:
        alerts = await HuntressClient(PollCredentials(ORIGIN, "hk", "hs"), http).list_active()
    assert sorted(a.alert_id for a in alerts) == ["1", "2"]
    assert [c.query["status"] for c in fake.api_calls("GET")] == ["sent", "auto_remediating"]
    assert fake.api_calls()[0].basic_auth() == ("hk", "hs")


async def test_huntress_resolution_of_a_report_not_sent_is_refused() -> None:
    fake = FakeHuntress()
    fake.alerts = [incident_report(7, status="auto_remediating")]
    async with fake.client() as http:
        client = HuntressClient(PollCredentials(ORIGIN, "hk", "hs"), http)
        with pytest.raises(PermanentPollError) as raised:
            await client.resolve("7")
    assert raised.value.status == 422


async def test_huntress_needs_its_public_key() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(PermanentPollError):
            HuntressClient(PollCredentials(ORIGIN, "", "hs"), http)


async def test_a_fake_served_over_real_http() -> None:
    fake = FakeDatto()
    fake.alerts = [datto_alert(f"a-{i}") for i in range(5)]
    fake.page_cap = 2
    async with serving(fake) as base_url, httpx.AsyncClient() as http:
        client = DattoClient(PollCredentials(base_url, "datto-key", "datto-secret"), http)
        alerts = await client.list_active()
        await client.resolve("a-3")
    assert len(alerts) == 5
    assert fake.resolved == ["a-3"]


async def test_items_without_an_id_are_left_out_and_counted() -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("u1", 1, "c1"), ninja_alert("", 2, "c2"), {"uid": {"x": 1}}]
    async with fake.client() as http:
        client = NinjaOneClient(PollCredentials(ORIGIN, "ninja-client", "ninja-secret"), http)
        alerts = await client.list_active()
    assert [a.alert_id for a in alerts] == ["u1"]
    assert client.skipped == 2
