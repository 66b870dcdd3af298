"""``sla.cancelled`` as a notify event kind: notify's SLA consumer takes it, its message
says what ended and where the work went, and only a policy selecting it matches it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.notify.convert.policies import EVENT_TYPE_ENUM, policy_draft, policy_violations
from services.notify.domain.policy import Policy, plan_targets
from services.notify.events import CONSUMERS, notifiable
from triage.events.v1.envelope_pb2 import Envelope
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import new_envelope, to_timestamp
from triage.runtime.events import envelope_subject
from triage.sla.v1 import events_pb2 as sev
from triage.sla.v1 import resources_pb2 as sla_pb
from triage.tickets.v1 import resources_pb2 as tickets_pb

TENANT = str(uuid.uuid4())
AT = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)


def _cancelled(**overrides: object) -> Envelope:
    payload = sev.SlaCancelled(
        ticket=sla_pb.SlaTicketRef(
            ticket_id="t-7",
            number=7,
            title="PC-7: offline",
            priority=tickets_pb.PRIORITY_P2,
            client_id="acme",
        ),
        target_kind=sla_pb.SLA_TARGET_KIND_FIRST_RESPONSE,
        cancel_time=to_timestamp(AT),
        reason=sev.SLA_CANCEL_REASON_MERGED,
        merged_into_ticket_id="t-12",
        merged_into_ticket_number=12,
    )
    for name, value in overrides.items():
        setattr(payload, name, value)
    return new_envelope(
        tenant_id=TENANT,
        event_type="sla.cancelled",
        payload=payload,
        producer="sla",
        ordering_key="t-7",
    )


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching (``*`` is one token), for filters without ``>``."""
    wanted, tokens = pattern.split("."), subject.split(".")
    return len(wanted) == len(tokens) and all(
        w in ("*", t) for w, t in zip(wanted, tokens, strict=True)
    )


def test_notifys_sla_consumer_subscribes_to_sla_cancelled() -> None:
    subject = envelope_subject(_cancelled())
    # The filters name the tenant token; a reader adds the partition token.
    filters = [f"{p.format(tenant='*')}.*" for p in CONSUMERS["notify-sla"]]
    assert [f for f in filters if _matches(f, subject)] == ["triage.sla.cancelled.*.*"]


def test_the_message_names_the_clock_and_the_ticket_it_was_merged_into() -> None:
    found = notifiable(_cancelled())
    assert found is not None
    message = found.message
    assert message.event_type == "sla.cancelled"
    assert message.title == "SLA first response cancelled for #7: merged into #12"
    assert "merged into #12" in message.body and "PC-7: offline" in message.body
    assert message.fields["Merged into"] == "#12"
    assert message.fields["Cancelled"] == AT.isoformat()
    assert found.ticket_id == "t-7"
    facts = found.facts
    # No outcome, no actions: not critical, and no channels of its own.
    assert not facts.critical and not facts.default_channels and not facts.target_channel_ids
    assert (facts.priority, facts.client_id) == (2, "acme")


def test_a_merge_that_named_no_ticket_still_reads() -> None:
    found = notifiable(_cancelled(merged_into_ticket_number=0, merged_into_ticket_id=""))
    assert found is not None
    assert found.message.title == "SLA first response cancelled for #7: merged into another ticket"
    assert "Merged into" not in found.message.fields


def test_only_a_policy_selecting_sla_cancelled_matches_it() -> None:
    found = notifiable(_cancelled())
    assert found is not None
    everything_else = frozenset(t for t in EVENT_TYPE_ENUM if t != "sla.cancelled")
    policies = [
        Policy("old", everything_else, ("c1",)),
        Policy("new", frozenset({"sla.cancelled"}), ("c2",)),
    ]
    assert [(t.channel_id, t.policy_id) for t in plan_targets(policies, found.facts)] == [
        ("c2", "new")
    ]


def test_a_policy_can_select_sla_cancelled() -> None:
    policy = pb.NotificationPolicy(
        display_name="merges",
        event_types=[pb.NOTIFICATION_EVENT_TYPE_SLA_CANCELLED],
        channel_ids=["c1"],
    )
    policy_violations(policy, {"c1"})  # raises on an unknown event type
    assert policy_draft(policy).event_types == ["sla.cancelled"]
    assert EVENT_TYPE_ENUM["sla.cancelled"] == pb.NOTIFICATION_EVENT_TYPE_SLA_CANCELLED
