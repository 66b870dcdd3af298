"""``triage integrations create/update/show`` with API credentials and polling (issue 17)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.fakes.rmm import FakeTacticalRmm, serving, tactical_alert
from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.polling import first_cycle
from tests.integration.ingest.test_cli import _triage

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poll worker notices changes quickly."""
    monkeypatch.setenv("TRIAGE_POLL_TICK_SECONDS", "0.1")


async def test_engineer_sets_credentials_and_sees_the_poll_status(
    ingest: Ingest, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = ingest.svc.token(ingest.tenant_id, "ingest:write")
    fake = FakeTacticalRmm()
    fake.alerts = [tactical_alert(1)]
    async with serving(fake) as url:
        code, out, err = await _triage(
            capsys,
            ingest,
            token,
            "integrations",
            "create",
            "--provider",
            "tacticalrmm",
            "--name",
            "Tactical",
            "--api-url",
            url,
            "--api-client-secret",
            fake.api_key,
            "--poll-interval",
            "10m",
            "--json",
        )
        assert code == 0, err
        created = json.loads(out)
        integration_id = created["id"]
        assert created["settings"]["poll_interval"] == "600s"
        await first_cycle(fresh_db, integration_id)

        code, out, err = await _triage(
            capsys, ingest, token, "integrations", "show", integration_id
        )
        assert code == 0, err
        assert "polling:      every 10 min" in out
        assert "found 1, created 1, resolved 0" in out

        code, out, err = await _triage(
            capsys, ingest, token, "integrations", "update", integration_id, "--poll-interval", "2m"
        )
        assert code != 0
        assert "poll_interval" in err

        code, out, err = await _triage(
            capsys, ingest, token, "integrations", "update", integration_id, "--no-polling"
        )
        assert code == 0, err
        deadline = time.monotonic() + 30
        while True:
            code, out, err = await _triage(
                capsys, ingest, token, "integrations", "show", integration_id
            )
            if "polling:      off" in out:
                break
            assert time.monotonic() < deadline, out
            await asyncio.sleep(0.1)
