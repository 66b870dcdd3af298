"""Other channels and event kinds end to end: SMTP, rule targets, SLA actions, digests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from google.protobuf import duration_pb2

from tests.integration.notify.conftest import free_port
from tests.integration.notify.flows import SECRET, create_channel, policy, webhook_channel
from tests.integration.notify.harness import Harness, opened, poll
from tests.integration.notify.receivers import HttpReceiver
from tests.integration.notify_channels.servers import Pki, make_pki
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.notify.v1 import resources_pb2 as pb
from triage.rules.v1 import events_pb2 as rules_events
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb

pytestmark = pytest.mark.integration


@dataclass
class Mailbox:
    messages: list[tuple[list[str], bytes, bool]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content, session.ssl is not None))
        return "250 2.0.0 Ok: queued as NTFY42"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == b"hunter2"
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("notify-pki")))


@pytest.fixture
def smtp(pki: Pki) -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=pki.server_context(),
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


async def test_smtp_over_starttls_with_a_private_ca(
    harness: Harness, smtp: tuple[int, Mailbox], pki: Pki
) -> None:
    port, mailbox = smtp
    channel = await create_channel(
        harness,
        pb.Channel(
            display_name="oncall mail",
            smtp=pb.SmtpConfig(
                host="127.0.0.1",
                port=port,
                security=pb.SMTP_SECURITY_STARTTLS,
                username="alerts",
                password="hunter2",
                from_address="Triage <alerts@msp.example>",
                to_addresses=["oncall@acme.example"],
                ca_certificate_pem=pki.ca_pem,
            ),
        ),
    )
    assert channel.smtp.has_password and not channel.smtp.password
    await policy(harness, [channel.id])
    event = await harness.publish("ticket.opened", opened(77))

    async def delivered() -> bool:
        rows = await harness.deliveries(event.event_id)
        return bool(rows) and rows[0]["status"] == "delivered"

    await poll(delivered)
    assert len(mailbox.messages) == 1
    recipients, content, tls = mailbox.messages[0]
    assert recipients == ["oncall@acme.example"] and tls
    email = message_from_bytes(content, policy=email_policy.default)
    assert "Ticket #77 opened" in str(email["Subject"])
    row = (await harness.deliveries(event.event_id))[0]
    assert email["Message-ID"] == f"<{row['idempotency_key']}@msp.example>"
    tries = await harness.attempts(str(row["id"]))
    assert tries[0]["provider_request_id"] == "NTFY42"


async def test_rule_targets_and_sla_notify_actions(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    channel = await webhook_channel(harness, receiver.url)
    rule_id = "rule-disk"
    routed = rules_events.AlertRouted(
        alert=ingest_pb.AlertEvent(
            alert_id="a-1",
            device_name="ACME-DC01",
            summary="Disk full",
            severity=ingest_pb.SEVERITY_HIGH,
        ),
        decision=rules_pb.Decision(
            kind=rules_pb.DECISION_KIND_ROUTED,
            rule_ids=[rule_id],
            actions=rules_pb.Actions(notification_channel_ids=[channel.id]),
        ),
    )
    suppressed = rules_events.AlertRouted(
        alert=routed.alert,
        decision=rules_pb.Decision(
            kind=rules_pb.DECISION_KIND_SUPPRESSED,
            actions=rules_pb.Actions(notification_channel_ids=[channel.id]),
        ),
    )
    breach = sla_events.SlaBreached(
        ticket=sla_pb.SlaTicketRef(ticket_id="t-9", number=9, title="Server down"),
        target_kind=sla_pb.SLA_TARGET_KIND_RESOLUTION,
        actions=[sla_pb.ThresholdAction(notify=sla_pb.NotifyAction(channel_ids=[channel.id]))],
    )
    alert_event = await harness.publish("alert.routed", routed)
    quiet_event = await harness.publish("alert.routed", suppressed)
    sla_event = await harness.publish("sla.breached", breach)

    async def both_delivered() -> bool:
        rows = await harness.deliveries()
        return len(rows) == 2 and all(r["status"] == "delivered" for r in rows)

    await poll(both_delivered)
    await poll(harness.idle)
    rows = {r["event_id"]: r for r in await harness.deliveries()}
    assert set(rows) == {alert_event.event_id, sla_event.event_id}
    assert quiet_event.event_id not in rows
    assert rows[alert_event.event_id]["rule_id"] == rule_id
    assert rows[alert_event.event_id]["policy_id"] is None
    assert rows[sla_event.event_id]["critical"] is True
    assert rows[sla_event.event_id]["ticket_id"] == "t-9"


async def test_a_burst_over_the_rate_limit_becomes_one_digest(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    channel = await webhook_channel(
        harness,
        receiver.url,
        rate_limit=pb.ChannelRateLimit(max_messages=1, period=duration_pb2.Duration(seconds=1)),
    )
    await policy(harness, [channel.id])
    events = [await harness.publish("ticket.opened", opened(n, severity=3)) for n in range(4)]

    async def settled() -> bool:
        rows = await harness.deliveries()
        return len(rows) >= 5 and all(r["status"] in ("delivered", "skipped") for r in rows)

    await poll(settled)
    rows = await harness.deliveries()
    by_status = {s: [r for r in rows if r["status"] == s] for s in ("delivered", "skipped")}
    digests = [r for r in rows if r["event_type"] == "notify.digest"]
    assert len(digests) == 1 and digests[0]["status"] == "delivered"
    assert len(by_status["skipped"]) == 3
    assert {str(r["digest_delivery_id"]) for r in by_status["skipped"]} == {str(digests[0]["id"])}
    sent = receiver.event_counts()
    assert sum(sent.values()) == 2
    assert sum(sent[e.event_id] for e in events) == 1
