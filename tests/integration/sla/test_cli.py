"""The ``triage`` SLA commands against a real sla service."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from tests.integration.sla.harness import AUTHORITY, Sla, TicketMaker
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def _triage(
    capsys: pytest.CaptureFixture[str], port: int, tenant: str, *argv: str
) -> tuple[int, str, str]:
    token = AUTHORITY.issue(subject="cli", tenant_id=tenant, scopes=["sla:write"])
    capsys.readouterr()
    code = await asyncio.to_thread(
        main, ["--sla-addr", f"127.0.0.1:{port}", "--token", token, *argv]
    )
    out, err = capsys.readouterr()
    return code, out, err


async def test_calendars_policies_and_ticket_sla_from_the_cli(
    sla: Sla, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = await sla.serve()
    code, out, err = await _triage(
        capsys,
        port,
        tenant,
        "calendars",
        "create",
        "--name",
        "London office",
        "--zone",
        "Europe/London",
        "--shift",
        "mon-fri 09:00-17:30",
        "--holiday-set",
        "GB-ENG",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["time_zone"] == "Europe/London"
    code, out, _ = await _triage(capsys, port, tenant, "calendars", "list")
    assert code == 0
    assert "London office" in out
    code, _, err = await _triage(
        capsys, port, tenant, "calendars", "create", "--name", "bad", "--zone", "Mars/Base"
    )
    assert code == 3
    assert "INVALID_ARGUMENT" in err
    opened_at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    ticket = TicketMaker.new(tenant, at=opened_at, priority=2)
    await sla.send(ticket.opened())
    code, out, err = await _triage(capsys, port, tenant, "sla", "show", "#1", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["ticket_sla"]["ticket"]["ticket_id"] == ticket.id
    assert len(shown["ticket_sla"]["clocks"]) == 2
    code, out, _ = await _triage(capsys, port, tenant, "sla", "show", ticket.id)
    assert code == 0
    assert "resolution" in out.lower()
    code, _, err = await _triage(capsys, port, tenant, "sla", "show", "#999")
    assert code == 3
    assert "NOT_FOUND" in err
    code, out, _ = await _triage(capsys, port, tenant, "sla", "breaches", "--json")
    assert code == 0
    assert json.loads(out).get("breaches", []) == []
