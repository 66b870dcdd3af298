"""``triage incidents ...`` against a running tickets service (issue 19)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.tickets.harness import AUTHORITY, Harness, new_tenant
from tests.integration.tickets.test_incidents import correlated, publish_all
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def test_cli_lists_shows_moves_and_merges(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = new_tenant()
    await publish_all(
        harness,
        [
            correlated(tenant, "pc-1"),
            correlated(tenant, "fw-1", minutes=1, primary=True),
            correlated(tenant, "pc-2", minutes=2),
            correlated(tenant, "pc-9", group="corr:rule-9:site_id=site-2"),
        ],
    )
    user = AUTHORITY.issue(subject="dana", tenant_id=tenant, scopes=["tickets:write"])
    base = ["--token", user, "--tickets-addr", f"127.0.0.1:{harness.server.port}"]

    async def run(*argv: str) -> str:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, *base])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        return captured.out

    table = await run("incidents", "list")
    assert "MEMBERS" in table and "site outage" in table
    listed = json.loads(await run("incidents", "list", "--open", "--json"))["incidents"]
    site = next(i for i in listed if i["member_count"] == 3)
    other = next(i for i in listed if i["member_count"] == 1)
    shown = await run("incidents", "show", site["id"])
    assert "PC-2" in shown and "primary joined" in shown
    data = json.loads(await run("incidents", "show", site["id"], "--json"))
    assert data["incident"]["primary_series_key"] == "int-1:fw-1:offline"
    assert len(data["members"]) == 3
    await run("incidents", "move-member", site["id"], "int-1:pc-2:offline")
    merged = json.loads(await run("incidents", "merge", site["id"], other["id"], "--json"))
    assert merged["member_count"] == 3  # pc-1, fw-1, and pc-9 from the other incident
    code = await asyncio.to_thread(main, ["incidents", "show", "nope", *base])
    assert code == 3
    assert "incident_id" in capsys.readouterr().err
