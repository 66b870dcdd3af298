"""Outbound resets through the poll clients' resolve: Tactical RMM, Level, Huntress
(issue 17), against the in-process fake APIs."""

from __future__ import annotations

import pytest

from services.ingest.clients.resets import IntegrationApi, default_clients
from services.ingest.domain.records import PROVIDER_CAPABILITIES
from services.ingest.domain.reset_policy import Verdict
from tests.fakes.rmm import (
    FakeApi,
    FakeHuntress,
    FakeLevel,
    FakeTacticalRmm,
    incident_report,
    level_alert,
    tactical_alert,
)


def _api(provider: str, fake: FakeApi, client_id: str, secret: str) -> IntegrationApi:
    return IntegrationApi("i-1", provider, fake.origin, client_id, secret)


CASES = [
    ("tacticalrmm", FakeTacticalRmm, lambda: tactical_alert(7), "7", ("", "tactical-key")),
    ("level", FakeLevel, lambda: level_alert("al-7"), "al-7", ("", "level-key")),
    ("huntress", FakeHuntress, lambda: incident_report(7), "7", ("hk", "hs")),
]


@pytest.mark.parametrize(("provider", "fake_type", "alert", "alert_id", "creds"), CASES)
async def test_resolve_is_the_outbound_reset(
    provider: str, fake_type: type[FakeApi], alert: object, alert_id: str, creds: tuple[str, str]
) -> None:
    assert "outbound_reset" in PROVIDER_CAPABILITIES[provider]
    fake = fake_type()
    fake.alerts = [alert()]  # type: ignore[operator]
    client = default_clients()[provider]
    async with fake.client() as http:
        done = await client.reset({"source_ref": alert_id}, _api(provider, fake, *creds), http)
        assert done.verdict is Verdict.SUCCEEDED, done
        assert fake.resolved == [alert_id]

        fake.fail_next(503)
        retry = await client.reset({"source_ref": alert_id}, _api(provider, fake, *creds), http)
        assert retry.verdict is Verdict.RETRY
        fake.fail_next(429, retry_after="30")
        limited = await client.reset({"source_ref": alert_id}, _api(provider, fake, *creds), http)
        assert (limited.verdict, limited.retry_after) == (Verdict.RETRY, 30)
        refused = await client.reset(
            {"source_ref": alert_id}, _api(provider, fake, creds[0], "wrong"), http
        )
        assert refused.verdict is Verdict.PERMANENT
        missing = await client.reset({"source_ref": None}, _api(provider, fake, *creds), http)
        assert missing.verdict is Verdict.PERMANENT and missing.code == 0
