"""``triage alerts ingest`` and ``triage tenants update`` against a real ingest service, and
output into a pipe that closes early (``triage ... | head -1``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.integration.ingest.conftest import Ingest
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def _triage(
    capsys: pytest.CaptureFixture[str], ingest: Ingest, token: str, *argv: str
) -> tuple[int, str, str]:
    """Run the CLI in a thread (it is synchronous; the service runs on this loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(
        main, ["--ingest-addr", ingest.svc.grpc_address, "--token", token, *argv]
    )
    out, err = capsys.readouterr()
    return code, out, err


def _alerts(integration_id: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "integration_id": integration_id,
            "kind": "ALERT_KIND_TRIGGER",
            "series_key": f"disk-{n}",
            "condition": "disk_full",
            "severity": "SEVERITY_HIGH",
            "summary": f"Disk {n} full",
        }
        for n in range(count)
    ]


async def test_alerts_ingest_sends_batches_and_a_rerun_is_a_no_op(
    ingest: Ingest, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    integration_id, _ = await ingest.integration("generic")
    user = ingest.svc.token(ingest.tenant_id, "ingest:write")
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in _alerts(integration_id, 5)))
    argv = ("alerts", "ingest", "--from-json", str(path), "--batch-size", "2", "--json")
    code, out, err = await _triage(capsys, ingest, user, *argv, "--request-id", "load-1")
    assert code == 0, err
    first = json.loads(out)["results"]
    assert len(first) == 5 and not any(r["duplicate"] for r in first)
    assert err == ""  # no progress on a non-terminal stderr without --progress
    code, out, err = await _triage(
        capsys, ingest, user, *argv, "--request-id", "load-1", "--progress"
    )
    assert code == 0, err
    assert [r["alert_id"] for r in json.loads(out)["results"]] == [r["alert_id"] for r in first]
    assert err.splitlines()[-1] == "ingest: 5/5 alerts (100%)"
    code, out, _ = await _triage(capsys, ingest, user, "alerts", "list", "--json")
    assert len(json.loads(out)["alert_events"]) == 5


async def test_alerts_ingest_bad_files_exit_2_naming_the_item(
    ingest: Ingest, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    user = ingest.svc.token(ingest.tenant_id, "ingest:write")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"kind": "ALERT_KIND_TRIGGER"}, {"kind": "NOT_A_KIND"}]))
    code, _, err = await _triage(capsys, ingest, user, "alerts", "ingest", "--from-json", str(bad))
    assert code == 2
    assert "alert 1" in err and "Traceback" not in err
    code, _, err = await _triage(
        capsys, ingest, user, "alerts", "ingest", "--from-json", str(tmp_path / "missing.json")
    )
    assert code == 2 and "cannot read" in err
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    code, _, err = await _triage(
        capsys, ingest, user, "alerts", "ingest", "--from-json", str(empty)
    )
    assert code == 2 and "no alerts" in err


async def test_alerts_ingest_server_refusal_prints_the_field(
    ingest: Ingest, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    integration_id, _ = await ingest.integration("generic")
    user = ingest.svc.token(ingest.tenant_id, "ingest:write")
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"integration_id": integration_id}]))
    code, _, err = await _triage(capsys, ingest, user, "alerts", "ingest", "--from-json", str(path))
    assert code == 3
    assert err.startswith("error: INVALID_ARGUMENT")
    assert "alerts[0]" in err and "Traceback" not in err


async def test_tenants_update_changes_only_the_fields_given(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = ingest.svc.token(None, "admin")
    tid = ingest.tenant_id
    code, out, err = await _triage(
        capsys, ingest, admin, "tenants", "update", tid, "--time-zone", "Europe/Paris", "--json"
    )
    assert code == 0, err
    tenant = json.loads(out)
    assert tenant["time_zone"] == "Europe/Paris"
    assert tenant["display_name"] == "Acme MSP"
    code, out, _ = await _triage(
        capsys, ingest, admin, "tenants", "update", tid, "--name", "Acme", "--json"
    )
    assert json.loads(out)["display_name"] == "Acme"
    assert json.loads(out)["time_zone"] == "Europe/Paris"
    code, _, err = await _triage(capsys, ingest, admin, "tenants", "update", tid)
    assert code == 2 and "nothing to update" in err
    code, _, err = await _triage(
        capsys, ingest, admin, "tenants", "update", tid, "--time-zone", "Mars/Olympus"
    )
    assert code == 3 and "INVALID_ARGUMENT" in err and "time_zone" in err
    code, _, err = await _triage(
        capsys, ingest, admin, "tenants", "update", tid, "--name", "x", "--etag", "stale"
    )
    assert code == 3 and "Traceback" not in err


async def test_output_into_a_closed_pipe_is_quiet(ingest: Ingest, tmp_path: Path) -> None:
    """``triage alerts ingest ... | head -1``: head exits after one line while the CLI still
    has ~100 KB to write (more than a pipe holds); no BrokenPipeError traceback."""
    integration_id, _ = await ingest.integration("generic")
    user = ingest.svc.token(ingest.tenant_id, "ingest:write")
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps(_alerts(integration_id, 1500)))
    env = {**os.environ, "TRIAGE_TOKEN": user, "TRIAGE_INGEST_ADDR": ingest.svc.grpc_address}
    command = (
        f"{sys.executable} -m triage.cli alerts ingest --from-json {path} | head -1;"
        ' echo "status=${PIPESTATUS[0]}" >&2'
    )
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert out.decode().split() == ["ALERT", "DELIVERY", "KEY", "DUPLICATE"]
    assert "Traceback" not in err.decode() and "BrokenPipe" not in err.decode()
    assert err.decode().strip().splitlines()[-1] == "status=141"
