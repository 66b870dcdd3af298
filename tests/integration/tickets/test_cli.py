"""``triage tickets ...`` against a running tickets service."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.tickets.harness import AUTHORITY, Harness, new_tenant, routed
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def test_cli_lists_shows_updates_comments_logs_closes_reopens(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = new_tenant()
    await harness.publish_and_wait(routed(tenant))
    user = AUTHORITY.issue(subject="dana", tenant_id=tenant, scopes=["tickets:write"])
    base = ["--token", user, "--tickets-addr", f"127.0.0.1:{harness.server.port}"]

    async def run(*argv: str) -> str:
        capsys.readouterr()
        # The CLI is synchronous; run it off the loop that serves it.
        code = await asyncio.to_thread(main, [*argv, *base])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        return captured.out

    listed = await run("tickets", "list")
    assert "#1" in listed and "dev-1: disk low" in listed and "NUMBER" in listed
    data = json.loads(await run("tickets", "list", "--open", "--json"))
    assert [t["number"] for t in data["tickets"]] == ["1"]
    await run("tickets", "update", "#1", "--status", "in_progress", "--assignee", "dana")
    await run("tickets", "comment", "#1", "Replacing the disk", "--public")
    await run("tickets", "log-time", "#1", "30m", "--note", "swap", "--billable")
    shown = json.loads(await run("tickets", "show", "#1", "--comments", "--json"))
    assert shown["status"] == "TICKET_STATUS_IN_PROGRESS"
    assert shown["human_touched"] is True
    assert shown["comments"][0]["body"] == "Replacing the disk"
    closed = await run("tickets", "close", "#1", "--resolution", "Disk replaced")
    assert "closed" in closed
    reopened = json.loads(await run("tickets", "reopen", "#1", "--reason", "again", "--json"))
    assert reopened["status"] == "TICKET_STATUS_OPEN"
    history = await run("tickets", "show", "#1", "--history", "--time")
    assert "reopened" in history and "swap" in history
    code = await asyncio.to_thread(main, ["tickets", "show", "nope", *base])
    assert code == 3
    assert "ticket_id" in capsys.readouterr().err
