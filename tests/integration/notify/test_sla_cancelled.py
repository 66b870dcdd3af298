"""``sla.cancelled`` (a merged ticket's SLA clock ended with no outcome) reaches exactly the
policies that select it, once, even when JetStream redelivers it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.integration.notify.flows import SECRET, policy, webhook_channel
from tests.integration.notify.harness import AUTHORITY, Harness, poll
from tests.integration.notify.receivers import HttpReceiver
from triage.cli.main import main
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import to_timestamp
from triage.runtime.events import envelope_subject
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb

pytestmark = pytest.mark.integration


def _cancelled() -> sla_events.SlaCancelled:
    return sla_events.SlaCancelled(
        ticket=sla_pb.SlaTicketRef(ticket_id="t-7", number=7, title="PC-7: offline"),
        target_kind=sla_pb.SLA_TARGET_KIND_FIRST_RESPONSE,
        cancel_time=to_timestamp(datetime(2030, 1, 7, 9, 30, tzinfo=UTC)),
        reason=sla_events.SLA_CANCEL_REASON_MERGED,
        merged_into_ticket_id="t-12",
        merged_into_ticket_number=12,
    )


async def test_only_a_policy_selecting_sla_cancelled_gets_it_and_only_once(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    wanted = await webhook_channel(harness, receiver.url, name="merges")
    other = await webhook_channel(harness, receiver.url, name="breaches")
    selecting = await policy(harness, [wanted.id], [pb.NOTIFICATION_EVENT_TYPE_SLA_CANCELLED])
    # Every other SLA and ticket kind, sla.cancelled left out: it must not follow them.
    await policy(
        harness,
        [other.id],
        [
            pb.NOTIFICATION_EVENT_TYPE_SLA_BREACHED,
            pb.NOTIFICATION_EVENT_TYPE_SLA_THRESHOLD,
            pb.NOTIFICATION_EVENT_TYPE_TICKET_CLOSED,
        ],
    )
    event = await harness.publish("sla.cancelled", _cancelled())

    async def delivered() -> bool:
        rows = await harness.deliveries(event.event_id)
        return bool(rows) and all(r["status"] == "delivered" for r in rows)

    await poll(delivered)
    # The same event again under a new message id escapes JetStream's dedup window.
    await harness.bus.publish_raw(
        envelope_subject(event), event.SerializeToString(), event_id=f"{event.event_id}-again"
    )
    await poll(harness.idle)
    rows = await harness.deliveries(event.event_id)
    assert [(r["channel_id"], r["policy_id"]) for r in rows] == [(wanted.id, selecting.id)]
    assert rows[0]["ticket_id"] == "t-7" and not rows[0]["critical"]
    assert receiver.event_counts()[event.event_id] == 1
    body = json.loads(receiver.seen[0].body)
    assert body["title"] == "SLA first response cancelled for #7: merged into #12"


async def test_a_default_channel_and_a_breach_policy_do_not_get_it(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    channel = await webhook_channel(harness, receiver.url, default=True)
    await policy(harness, [channel.id], [pb.NOTIFICATION_EVENT_TYPE_SLA_BREACHED])
    event = await harness.publish("sla.cancelled", _cancelled())
    await poll(harness.idle)
    assert await harness.deliveries(event.event_id) == []
    assert receiver.event_counts()[event.event_id] == 0


async def test_the_cli_creates_a_policy_selecting_sla_cancelled(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = await webhook_channel(harness, "http://127.0.0.1:9")
    token = AUTHORITY.issue(subject="cli", tenant_id=harness.tenant_id, scopes=["notify:write"])
    common = ["--token", token, "--notify-addr", f"127.0.0.1:{harness.server.port}"]

    async def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, *common])
        return code, capsys.readouterr().out

    code, out = await run(
        "notify-policies",
        "create",
        "--name",
        "merges",
        "--event",
        "sla.cancelled",
        "--channel",
        channel.id,
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["event_types"] == ["NOTIFICATION_EVENT_TYPE_SLA_CANCELLED"]
    code, out = await run("notify-policies", "list")
    assert code == 0 and "sla_cancelled" in out
