"""The ``triage channels|notify-policies|deliveries`` commands against a live server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from tests.integration.notify.flows import SECRET
from tests.integration.notify.harness import AUTHORITY, Harness, opened, poll
from tests.integration.notify.receivers import HttpReceiver
from triage.cli.main import main

pytestmark = pytest.mark.integration


async def test_cli_round_trip(
    harness: Harness,
    receiver_factory: Callable[..., HttpReceiver],
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    token = AUTHORITY.issue(subject="cli", tenant_id=harness.tenant_id, scopes=["notify:write"])
    common = ["--token", token, "--notify-addr", f"127.0.0.1:{harness.server.port}"]

    async def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, *common])
        return code, capsys.readouterr().out

    code, out = await run(
        "channels",
        "create",
        "--kind",
        "webhook",
        "--name",
        "ops",
        "--url",
        receiver.url + "/h",
        "--signing-secret",
        SECRET,
        "--quiet",
        "22:00-07:00@mon,tue",
        "--quiet-zone",
        "Europe/Berlin",
        "--json",
    )
    assert code == 0, out
    channel = json.loads(out)
    assert "signing_secret" not in channel["webhook"]
    assert channel["webhook"]["has_signing_secret"] is True
    code, out = await run("channels", "list")
    assert code == 0 and "ops" in out and "webhook" in out
    code, out = await run("channels", "update", channel["id"], "--rate", "10/1m", "--json")
    assert code == 0 and json.loads(out)["rate_limit"]["max_messages"] == 10
    code, out = await run("channels", "test", channel["id"], "--json")
    assert code == 0 and json.loads(out)["status"] == "DELIVERY_STATUS_DELIVERED"
    code, out = await run(
        "notify-policies",
        "create",
        "--name",
        "p",
        "--event",
        "ticket.opened",
        "--channel",
        channel["id"],
        "--min-severity",
        "high",
        "--json",
    )
    assert code == 0, out
    policy_id = json.loads(out)["id"]
    code, out = await run("notify-policies", "list")
    assert code == 0 and policy_id in out and "ticket_opened" in out
    event = await harness.publish("ticket.opened", opened(severity=5))

    async def delivered() -> bool:
        rows = await harness.deliveries(event.event_id)
        return bool(rows) and rows[0]["status"] == "delivered"

    await poll(delivered)
    code, out = await run("deliveries", "list", "--status", "delivered")
    assert code == 0 and "delivered" in out and "ticket_opened" in out
    delivery_id = str((await harness.deliveries(event.event_id))[0]["id"])
    code, out = await run("deliveries", "show", delivery_id, "--json")
    assert code == 0 and len(json.loads(out)["attempts"]) == 1
    code, out = await run("deliveries", "retry", delivery_id)
    assert code == 3
    code, out = await run("channels", "delete", channel["id"])
    assert code == 3
    assert (await run("notify-policies", "delete", policy_id))[0] == 0
    assert (await run("channels", "delete", channel["id"]))[0] == 0
