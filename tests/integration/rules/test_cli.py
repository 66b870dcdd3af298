"""The ``triage rules`` / ``triage windows`` commands against a running rules service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.integration.rules.harness import AUTHORITY, Rules
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def _run(rules: Rules, tenant: str, *argv: str) -> int:
    token = AUTHORITY.issue(subject="cli", tenant_id=tenant, scopes=["rules:write"])
    address = f"127.0.0.1:{rules.server.port}"
    args = [*argv, "--token", token, "--rules-addr", address]
    return await asyncio.to_thread(main, args)


async def test_cli_creates_lists_and_evaluates(
    rules: Rules, tenant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await _run(
        rules,
        tenant,
        "rules",
        "create",
        "--name",
        "disks",
        "--condition",
        "disk.*",
        "--min-severity",
        "medium",
        "--ticket",
        "--queue",
        "storage",
        "--label",
        "env=~prod.*",
        "--json",
    )
    assert code == 0
    created = json.loads(capsys.readouterr().out)
    assert created["display_name"] == "disks"
    assert created["conditions"]["label_matchers"][0]["op"] == "LABEL_MATCH_OP_REGEX"

    assert await _run(rules, tenant, "rules", "list") == 0
    table = capsys.readouterr().out
    assert "disks" in table and "create_ticket" in table

    alert = tmp_path / "alert.json"
    alert.write_text(
        json.dumps(
            {
                "alert_id": "a-1",
                "condition": "disk.low",
                "severity": "SEVERITY_HIGH",
                "kind": "ALERT_KIND_TRIGGER",
                "labels": {"env": "production"},
                "received_time": "2025-06-02T09:00:00Z",
            }
        )
    )
    assert await _run(rules, tenant, "rules", "evaluate", "--from-json", str(alert), "--json") == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["kind"] == "DECISION_KIND_ROUTED"
    assert decision["rule_ids"] == [created["id"]]

    code = await _run(
        rules,
        tenant,
        "windows",
        "create",
        "--name",
        "patch",
        "--start",
        "2025-06-02T08:00:00Z",
        "--end",
        "2025-06-02T10:00:00Z",
        "--client",
        "acme",
        "--json",
    )
    assert code == 0
    window = json.loads(capsys.readouterr().out)
    assert window["state"] == "MAINTENANCE_WINDOW_STATE_ACTIVE"

    assert await _run(rules, tenant, "rules", "create", "--message-regex", "(") != 0
    assert "conditions.message_regex" in capsys.readouterr().err
