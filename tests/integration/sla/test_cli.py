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


async def test_threshold_actions_and_holiday_categories_from_the_cli(
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
        "NY office",
        "--zone",
        "America/New_York",
        "--shift",
        "mon-fri 09:00-17:00",
        "--holiday-set",
        "US-NY:public,unofficial",
        "--json",
    )
    assert code == 0, err
    calendar = json.loads(out)
    assert calendar["holiday_sets"][0]["categories"] == ["public", "unofficial"]
    code, _, err = await _triage(
        capsys,
        port,
        tenant,
        "calendars",
        "update",
        calendar["id"],
        "--holiday-set",
        "GB:bank",
    )
    assert code == 3
    assert "INVALID_ARGUMENT" in err and "choose from public" in err

    code, out, err = await _triage(
        capsys,
        port,
        tenant,
        "policies",
        "create",
        "--name",
        "Escalating",
        "--scope",
        "default",
        "--calendar",
        calendar["id"],
        "--target",
        "P3=1h/8h",
        "--at",
        "75:escalate=+1",
        "--at",
        "100:notify=default",
        "--at",
        "100:escalate=P1",
        "--at",
        "90@resolution:reassign=queue:tier-2,assignee:bob",
        "--json",
    )
    assert code == 0, err
    policy = json.loads(out)
    by_percent = {t["percent"]: t for t in policy["thresholds"]}
    assert by_percent[75]["actions"] == [{"escalate": {"raise_levels": 1}}]
    assert by_percent[90]["target_kinds"] == ["SLA_TARGET_KIND_RESOLUTION"]
    assert by_percent[90]["actions"] == [{"reassign": {"queue": "tier-2", "assignee": "bob"}}]
    assert by_percent[100]["actions"] == [
        {"notify": {"default_channels": True}},
        {"escalate": {"priority": "PRIORITY_P1"}},
    ]
    code, out, _ = await _triage(capsys, port, tenant, "policies", "list")
    assert code == 0
    assert "100:notify=default 100:escalate=P1" in out

    code, out, err = await _triage(
        capsys,
        port,
        tenant,
        "policies",
        "update",
        policy["id"],
        "--at",
        "100:escalate=+2",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["thresholds"] == [
        {"percent": 100, "actions": [{"escalate": {"raise_levels": 2}}]}
    ]
    code, _, err = await _triage(
        capsys, port, tenant, "policies", "update", policy["id"], "--at", "100:escalate=up"
    )
    assert code == 2
    assert "bad --at" in err and "Traceback" not in err
