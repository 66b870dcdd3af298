"""Marking a channel as one of the tenant's default channels: API and CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from tests.integration.notify.flows import SECRET, mask, webhook_channel
from tests.integration.notify.harness import AUTHORITY, Harness
from tests.integration.notify.receivers import HttpReceiver
from triage.cli.main import main
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration


async def test_the_flag_is_set_on_create_changed_by_update_and_shown(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    created = await webhook_channel(harness, receiver.url, name="engineers", default=True)
    assert created.default
    async with harness.channel() as ch:
        stub = api_grpc.NotifyServiceStub(ch)
        meta = harness.metadata()
        got = await stub.GetChannel(api.GetChannelRequest(channel_id=created.id), metadata=meta)
        assert got.channel.default
        # A mask that does not name `default` leaves it alone.
        renamed = await stub.UpdateChannel(
            api.UpdateChannelRequest(
                channel=pb.Channel(id=created.id, etag=got.channel.etag, display_name="eng"),
                update_mask=mask("display_name"),
            ),
            metadata=meta,
        )
        assert renamed.channel.default
        cleared = await stub.UpdateChannel(
            api.UpdateChannelRequest(
                channel=pb.Channel(id=created.id, etag=renamed.channel.etag),
                update_mask=mask("default"),
            ),
            metadata=meta,
        )
        assert not cleared.channel.default
        listed = await stub.ListChannels(api.ListChannelsRequest(), metadata=meta)
        assert [c.default for c in listed.channels] == [False]


async def test_cli_marks_and_unmarks_a_default_channel(
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
        "channels", "create", "--kind", "webhook", "--name", "engineers",
        "--url", receiver.url + "/h", "--signing-secret", SECRET, "--default", "--json",
    )  # fmt: skip
    assert code == 0, out
    channel = json.loads(out)
    assert channel["default"] is True
    code, out = await run("channels", "list")
    assert code == 0
    assert next(line for line in out.splitlines() if "engineers" in line).split()[-1] == "default"
    code, out = await run("channels", "update", channel["id"], "--no-default", "--json")
    assert code == 0 and "default" not in json.loads(out)
    code, out = await run("channels", "show", channel["id"])
    assert code == 0 and ["default", "False"] in [line.split() for line in out.splitlines()]
