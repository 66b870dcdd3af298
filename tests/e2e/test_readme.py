"""The README's first walk, as a person does it: the stack `make run` starts and seeds, the
`export` line and `curl` it prints pasted into a shell, then the `triage` command.

From clone to a ticket, a redelivery that creates nothing, a reset that closes the ticket,
and a maintenance window that silences the next alert until it is ended.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import eventually
from triage.devstack.endpoints import Ports
from triage.devstack.stack import start_stack

pytestmark = pytest.mark.e2e


@dataclass
class Shell:
    """A shell with the banner's ``export`` line applied, as the README's second shell."""

    exports: str

    async def run(self, command: str) -> str:
        """Run ``command`` after the export line; its stdout (fails on a non-zero exit)."""
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            f"set -e; export {self.exports}; {command}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, f"{command!r}: {proc.returncode} {out.decode()} {err.decode()}"
        return out.decode()

    async def triage_json(self, *args: str) -> Any:
        """``triage ARGS --json``, parsed."""
        return json.loads(await self.run(" ".join(["triage", *args, "--json"])))


@dataclass
class Banner:
    """What `make run` printed: the export line and the sample curl."""

    shell: Shell
    curl: str


@pytest.fixture(scope="module")
async def banner(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Banner]:
    """A seeded stack, as `make run` starts it, and what it printed."""
    data_dir = tmp_path_factory.mktemp("readme")
    env = {**os.environ, "DATABASE_URL": pg_url, "NATS_URL": nats_url}
    with (data_dir / "stack.log").open("w") as log:
        async with start_stack(data_dir, env=env, ports=Ports.free(), output=log) as stack:
            text = stack.banner()
            exports = re.search(r"^\s*export (.+)$", text, re.MULTILINE)
            curl = re.search(r"^\s*(curl .+)$", text, re.MULTILINE)
            assert exports and curl, text
            yield Banner(Shell(exports.group(1)), curl.group(1))


def _with(curl: str, **changes: Any) -> str:
    """The printed curl with fields of its JSON body changed, as the README asks."""
    body = re.search(r"-d '(\{.*\})'$", curl)
    assert body, curl
    payload = {**json.loads(body.group(1)), **changes}
    return curl[: body.start(1)] + json.dumps(payload, separators=(",", ":")) + "'"


async def _tickets(shell: Shell) -> list[dict[str, Any]]:
    return list((await shell.triage_json("tickets", "list")).get("tickets", []))


async def test_clone_to_ticket_reset_and_maintenance_window(banner: Banner) -> None:
    shell = banner.shell
    health = await shell.run("triage health")
    assert health.count("SERVING") == 6, health

    sent = time.monotonic()
    first = json.loads(await shell.run(banner.curl))
    assert first["status"] == "accepted" and first["duplicates"] == 0

    async def opened() -> list[dict[str, Any]]:
        return await _tickets(shell)

    tickets = await eventually(opened, what="the demo alert's ticket")
    print(f"ticket listed {time.monotonic() - sent:.2f} s after the curl")
    assert [t["number"] for t in tickets] == ["1"]  # int64 is a string in JSON
    assert tickets[0]["title"] == "SRV-DC01: Disk C: below 10% free"

    again = json.loads(await shell.run(banner.curl))
    assert again["duplicates"] == 1 and again["alert_ids"] == first["alert_ids"]

    await shell.run(_with(banner.curl, id=1002, statusCode="RESET", status="Reset"))

    async def closed() -> dict[str, Any] | None:
        ticket = await shell.triage_json("tickets", "show", "1")
        return ticket if ticket.get("status") == "TICKET_STATUS_CLOSED" else None

    ticket = await eventually(closed, what="ticket #1 closed by the reset")
    assert ticket["close_reason"] == "CLOSE_REASON_ALERT_RESET"

    now = datetime.now(UTC)
    window = await shell.triage_json(
        "windows",
        "create",
        "--name",
        "'Patch night'",
        "--device",
        "'SRV-*'",
        "--start",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--end",
        (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    window_id = window["id"]
    silenced = json.loads(await shell.run(_with(banner.curl, id=1003, seriesUid="demo-disk-d")))
    alert_id = silenced["alert_ids"][0]

    async def suppressed() -> bool:
        alerts = (await shell.triage_json("alerts", "list")).get("alert_events", [])
        return any(a["alert_id"] == alert_id and a.get("suppressed") for a in alerts)

    await eventually(suppressed, what="the alert stored as suppressed")
    assert len(await _tickets(shell)) == 1  # and no new ticket

    await shell.run(f"triage windows end {window_id}")

    async def routed_after_all() -> list[dict[str, Any]] | None:
        tickets = await _tickets(shell)
        return tickets if len(tickets) == 2 else None

    tickets = await eventually(routed_after_all, what="the still-firing alert's ticket")
    assert {t["status"] for t in tickets} == {"TICKET_STATUS_CLOSED", "TICKET_STATUS_NEW"}


def test_the_readme_shows_these_steps() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for step in (
        "triage health",
        "triage tickets list",
        '"statusCode":"RESET"',
        "triage tickets show 1",
        "triage windows create --name \"Patch night\" --device 'SRV-*'",
        "triage alerts list",
        "triage windows end <window id>",
    ):
        assert step in readme, step
