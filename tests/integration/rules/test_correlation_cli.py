"""The ``triage correlation-rules`` commands against a running rules service."""

from __future__ import annotations

import json

import pytest

from tests.integration.rules.harness import Rules
from tests.integration.rules.test_cli import _run

pytestmark = pytest.mark.integration


async def test_cli_manages_correlation_rules(
    rules: Rules, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run_json(*argv: str) -> dict[str, object]:
        assert await _run(rules, tenant, "correlation-rules", *argv, "--json") == 0
        out: dict[str, object] = json.loads(capsys.readouterr().out)
        return out

    site = await run_json(
        "create",
        "--name",
        "site outage",
        "--condition",
        "device.offline",
        "--condition",
        "gateway.down",
        "--group-by",
        "client_id+site_id",
        "--window",
        "10m",
        "--primary-condition",
        "gateway.down",
    )
    assert site["group_by"] == ["client_id", "site_id"]
    assert site["window"] == "600s"
    assert site["primary_conditions"] == {"conditions": ["gateway.down"]}
    client = await run_json(
        "create",
        "--name",
        "client",
        "--provider",
        "ninjaone",
        "--group-by",
        "client_id",
        "--window",
        "1h",
    )

    moved = await run_json("move", str(client["id"]), "--to", "0")
    assert [r["id"] for r in moved["correlation_rules"]] == [client["id"], site["id"]]  # type: ignore[attr-defined]

    updated = await run_json("update", str(site["id"]), "--window", "15m", "--no-primary")
    assert updated["window"] == "900s" and "primary_conditions" not in updated
    shown = await run_json("show", str(site["id"]))
    assert shown["version"] == "3"  # created, moved to 1, updated

    listed = await run_json("list")
    assert len(listed["correlation_rules"]) == 2  # type: ignore[arg-type]
    report = await run_json("simulate", "--start", "2025-06-01T00:00:00Z")
    assert report.get("alerts_evaluated", "0") == "0"

    await run_json("delete", str(client["id"]))
    listed = await run_json("list")
    assert [r["id"] for r in listed["correlation_rules"]] == [site["id"]]  # type: ignore[attr-defined]

    code = await _run(
        rules,
        tenant,
        "correlation-rules",
        "create",
        "--name",
        "bad",
        "--group-by",
        "rack",
        "--window",
        "5m",
    )
    assert code != 0
    assert "group_by[0]" in capsys.readouterr().err
