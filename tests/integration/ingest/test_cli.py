"""The ``triage`` CLI against a real ingest service: tenants, tokens, integrations, alerts."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.ingest.conftest import Ingest, ninja_trigger
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def _triage(
    capsys: pytest.CaptureFixture[str], ingest: Ingest, token: str, *argv: str
) -> tuple[int, str, str]:
    """Run the CLI in a thread (it is synchronous; the service runs on this loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(
        main,
        [
            "--ingest-addr",
            ingest.svc.grpc_address,
            "--gateway-url",
            ingest.svc.http_url,
            "--token",
            token,
            *argv,
        ],
    )
    out, err = capsys.readouterr()
    return code, out, err


async def test_admin_creates_a_tenant_and_issues_a_token(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = ingest.svc.token(None, "admin")
    code, out, _ = await _triage(
        capsys,
        ingest,
        admin,
        "tenants",
        "create",
        "--name",
        "Contoso",
        "--time-zone",
        "Europe/London",
        "--json",
    )
    assert code == 0
    tenant = json.loads(out)
    assert tenant["display_name"] == "Contoso"
    assert tenant["time_zone"] == "Europe/London"
    code, out, _ = await _triage(
        capsys,
        ingest,
        admin,
        "tokens",
        "issue",
        "--tenant",
        tenant["id"],
        "--scopes",
        "ingest:write",
        "--ttl",
        "1h",
    )
    assert code == 0
    claims = ingest.svc.authority.verify(out.strip())
    assert claims.tenant_id == tenant["id"]
    assert claims.scopes == frozenset({"ingest:write"})
    code, out, _ = await _triage(capsys, ingest, admin, "tenants", "list")
    assert code == 0
    assert "Contoso" in out
    assert out.splitlines()[0].split()[:3] == ["ID", "NAME", "TIME"]


async def test_integration_lifecycle_and_alerts_through_the_cli(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    user = ingest.svc.token(ingest.tenant_id, "ingest:write")
    code, out, _ = await _triage(
        capsys,
        ingest,
        user,
        "integrations",
        "create",
        "--provider",
        "ninjaone",
        "--name",
        "NinjaOne EU",
        "--json",
    )
    assert code == 0
    created = json.loads(out)
    integration_id, secret = created["id"], created["secret"]
    assert created["webhook_url"].endswith(f"/v1/webhooks/ninjaone/{integration_id}")
    accepted = await ingest.post("ninjaone", integration_id, ninja_trigger(), secret=secret)
    assert accepted.status_code == 202
    alert_id = accepted.json()["alert_ids"][0]

    code, out, _ = await _triage(capsys, ingest, user, "alerts", "list")
    assert code == 0
    assert alert_id in out
    assert "SRV-01" in out
    code, out, _ = await _triage(capsys, ingest, user, "alerts", "show", alert_id, "--json")
    assert json.loads(out)["series_key"] == f"{integration_id}:series-1"

    code, out, _ = await _triage(
        capsys,
        ingest,
        user,
        "integrations",
        "rotate-secret",
        integration_id,
        "--overlap",
        "1h",
        "--json",
    )
    assert code == 0
    assert json.loads(out)["secret"] not in ("", secret)
    code, out, _ = await _triage(capsys, ingest, user, "integrations", "list", "--json")
    assert [i["id"] for i in json.loads(out)["integrations"]] == [integration_id]
    code, out, _ = await _triage(capsys, ingest, user, "integrations", "delete", integration_id)
    assert code == 0
    code, _, err = await _triage(capsys, ingest, user, "integrations", "show", integration_id)
    assert code == 3
    assert "NOT_FOUND" in err


async def test_bad_input_is_reported_with_the_field(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    user = ingest.svc.token(ingest.tenant_id, "ingest:write")
    code, _, err = await _triage(
        capsys,
        ingest,
        user,
        "integrations",
        "create",
        "--provider",
        "datto",
        "--name",
        "x",
        "--time-zone",
        "Mars/Olympus",
    )
    assert code == 3
    assert "INVALID_ARGUMENT" in err
    assert "integration.settings.time_zone" in err
    code, _, err = await _triage(capsys, ingest, "", "alerts", "list")
    assert code == 2
    assert "TRIAGE_TOKEN" in err
