"""``triage tickets create`` and ``triage sla audit`` against running services."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.sla.harness import AUTHORITY as SLA_AUTHORITY
from tests.integration.sla.harness import Sla, TicketMaker
from tests.integration.tickets.harness import AUTHORITY, Harness, new_tenant
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def test_tickets_create_by_flags_or_json_and_a_retry_returns_the_first(
    harness: Harness, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tenant = new_tenant()
    user = AUTHORITY.issue(subject="dana", tenant_id=tenant, scopes=["tickets:write"])
    base = ["--token", user, "--tickets-addr", f"127.0.0.1:{harness.server.port}"]

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, *base])
        out, err = capsys.readouterr()
        return code, out, err

    retry = str(uuid.uuid4())
    argv = ("tickets", "create", "--title", "Printer on fire", "--priority", "p2",
            "--queue", "hardware", "--client", "acme", "--request-id", retry, "--json")  # fmt: skip
    code, out, err = await run(*argv)
    assert code == 0, err
    created = json.loads(out)
    assert created["title"] == "Printer on fire"
    assert created["priority"] == "PRIORITY_P2"
    assert created["queue"] == "hardware" and created["client_id"] == "acme"
    code, out, _ = await run(*argv)
    assert code == 0 and json.loads(out)["id"] == created["id"]

    ticket = tmp_path / "ticket.json"
    ticket.write_text(json.dumps({"title": "From a file", "description": "details"}))
    code, out, err = await run("tickets", "create", "--from-json", str(ticket), "--priority", "p1")
    assert code == 0, err
    assert "From a file" in out and "P1" in out and "#2" in out

    code, _, err = await run("tickets", "create", "--title", "x" * 100_000)
    assert code == 3
    assert err.startswith("error: INVALID_ARGUMENT") and "ticket.title" in err


async def test_sla_audit_lists_why_the_clocks_moved(
    sla: Sla, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = await sla.serve()
    ticket = TicketMaker.new(tenant, at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC), priority=2)
    await sla.send(ticket.opened())
    token = SLA_AUTHORITY.issue(subject="cli", tenant_id=tenant, scopes=["sla:read"])
    base = ["--sla-addr", f"127.0.0.1:{port}", "--token", token]
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["sla", "audit", ticket.id, "--json", *base])
    out, err = capsys.readouterr()
    assert code == 0, err
    entries = json.loads(out)["audit_entries"]
    assert {e["kind"] for e in entries} == {"SLA_AUDIT_KIND_STARTED"}
    assert {e["target_kind"] for e in entries} == {
        "SLA_TARGET_KIND_FIRST_RESPONSE",
        "SLA_TARGET_KIND_RESOLUTION",
    }
    code = await asyncio.to_thread(main, ["sla", "audit", ticket.id, *base])
    out, _ = capsys.readouterr()
    assert code == 0 and "TIME" in out and "started" in out
    code = await asyncio.to_thread(main, ["sla", "audit", "not-a-ticket", *base])
    _, err = capsys.readouterr()
    assert code == 3 and err.startswith("error: NOT_FOUND") and "not-a-ticket" in err
