"""``triage rules simulate`` in chunks, rule time-of-day and persistence flags, and
``triage windows update``, against a running rules service."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import AUTHORITY, Rules, alert
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def _run(
    rules: Rules, tenant: str, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    bearer = AUTHORITY.issue(subject="cli", tenant_id=tenant, scopes=["rules:write"])
    address = f"127.0.0.1:{rules.server.port}"
    code = await asyncio.to_thread(main, [*argv, "--token", bearer, "--rules-addr", address])
    out, err = capsys.readouterr()
    return code, out, err


def _iso(delta: timedelta) -> str:
    return (T0 + delta).isoformat()


async def test_simulate_in_chunks_adds_up_to_one_call_over_the_range(
    rules: Rules, tenant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await _run(
        rules, tenant, capsys, "rules", "create", "--name", "disk", "--condition", "disk.*"
    )
    assert code == 0, err
    history = [
        alert(tenant, at=T0 - timedelta(hours=h), series_key=f"s{h}", condition=c)
        for h, c in enumerate(["disk.low", "cpu.high", "disk.full", "disk.low", "cpu.high"] * 10)
    ]
    for event in history:
        await rules.publish(event)
    for event in history:
        await rules.routed_for(event.alert_id)
    proposal = tmp_path / "rules.json"
    proposal.write_text(
        json.dumps([{"display_name": "cpu", "conditions": {"conditions": ["cpu.*"]}}])
    )
    start, end = timedelta(days=-3), timedelta(hours=1)
    code, out, err = await _run(
        rules, tenant, capsys, "rules", "simulate", "--rules-json", str(proposal),
        "--start", _iso(start), "--end", _iso(end), "--chunk", "12h", "--progress", "--json",
    )  # fmt: skip
    assert code == 0, err
    chunked, shown = json.loads(out), err.splitlines()
    code, out, err = await _run(
        rules, tenant, capsys, "rules", "simulate", "--rules-json", str(proposal),
        "--start", _iso(start), "--end", _iso(end), "--chunk", "30d", "--json",
    )  # fmt: skip
    assert code == 0, err
    whole = json.loads(out)
    assert chunked["alerts_evaluated"] == whole["alerts_evaluated"] == "50"
    assert chunked["proposed_total"] == whole["proposed_total"]
    assert chunked["current_total"] == whole["current_total"]
    assert chunked["rules"] == whole["rules"]
    assert int(whole["proposed_total"]["matched"]) == 20
    assert int(whole["current_total"]["matched"]) == 30
    assert shown[0] == "simulate: 0/7 chunks (0%)"
    assert shown[-1].startswith("simulate: 7/7 chunks (100%)") and shown[-1].endswith("50 alerts")

    code, out, _ = await _run(
        rules, tenant, capsys, "rules", "simulate", "--start", _iso(start), "--end", _iso(end),
        "--chunk", "12h", "--max-alerts", "7", "--json",
    )  # fmt: skip
    capped = json.loads(out)
    assert code == 0 and capped["alerts_evaluated"] == "7" and capped["truncated"] is True

    code, _, err = await _run(
        rules, tenant, capsys, "rules", "simulate", "--start", _iso(end), "--end", _iso(start)
    )
    assert code == 2 and "--end must be after --start" in err


async def test_rule_time_of_day_and_persistence_flags(
    rules: Rules, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await _run(
        rules, tenant, capsys, "rules", "create", "--name", "office hours",
        "--during", "mon-fri 08:00-12:00", "--during", "mon-fri 13:00-18:00",
        "--during-zone", "Europe/London", "--persistence", "3/10m", "--json",
    )  # fmt: skip
    assert code == 0, err
    rule = json.loads(out)
    times = rule["conditions"]["time_conditions"]
    assert times["time_zone"] == "Europe/London"
    assert len(times["ranges"]) == 2
    assert times["ranges"][0]["start"] == {"hours": 8}
    assert rule["actions"]["persistence"] == {"count": 3, "within": "600s"}

    code, out, err = await _run(
        rules, tenant, capsys, "rules", "update", rule["id"], "--during-zone", "UTC", "--json"
    )
    assert code == 0, err
    times = json.loads(out)["conditions"]["time_conditions"]
    assert times["time_zone"] == "UTC" and len(times["ranges"]) == 2

    code, out, err = await _run(
        rules, tenant, capsys, "rules", "update", rule["id"],
        "--during", "always", "--persistence", "off", "--json",
    )  # fmt: skip
    assert code == 0, err
    updated = json.loads(out)
    assert not updated.get("conditions", {}).get("time_conditions", {}).get("ranges")
    assert "persistence" not in updated.get("actions", {})

    for bad, says in (
        (("--persistence", "three/10m"), "bad persistence"),
        (("--persistence", "3/soon"), "bad duration"),
        (("--during", "weekdays 9-5"), "bad shift"),
    ):
        code, _, err = await _run(rules, tenant, capsys, "rules", "update", rule["id"], *bad)
        assert code == 2 and says in err and "Traceback" not in err


async def test_windows_update_changes_only_the_fields_given(
    rules: Rules, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await _run(
        rules, tenant, capsys, "windows", "create", "--name", "patching",
        "--start", _iso(timedelta(days=1)), "--end", _iso(timedelta(days=1, hours=2)),
        "--client", "acme", "--json",
    )  # fmt: skip
    assert code == 0, err
    window = json.loads(out)
    code, out, err = await _run(
        rules, tenant, capsys, "windows", "update", window["id"],
        "--end", _iso(timedelta(days=1, hours=4)), "--name", "patching (long)", "--json",
    )  # fmt: skip
    assert code == 0, err
    updated = json.loads(out)
    assert updated["display_name"] == "patching (long)"
    assert updated["one_off"]["end_time"].startswith(
        (T0 + timedelta(days=1, hours=4)).strftime("%Y-%m-%dT%H:%M")
    )
    assert updated["scope"]["clients"] == ["acme"]
    assert updated["one_off"]["start_time"] == window["one_off"]["start_time"]

    code, _, err = await _run(
        rules, tenant, capsys, "windows", "update", window["id"], "--rrule", "FREQ=DAILY"
    )
    assert code == 2 and "recurring" in err
    code, _, err = await _run(rules, tenant, capsys, "windows", "update", window["id"])
    assert code == 2 and "nothing to update" in err
    code, _, err = await _run(
        rules, tenant, capsys, "windows", "update", window["id"], "--end", _iso(timedelta(days=-9))
    )
    assert code == 3 and "INVALID_ARGUMENT" in err and "one_off" in err
