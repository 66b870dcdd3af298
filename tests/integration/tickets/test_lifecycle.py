"""The alert lifecycle table, driven by real ``alert.routed`` events through NATS."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from services.tickets.domain.tickets import CloseReason, Damping, Status, TenantSettings
from tests.consumer_lag import group_pending
from tests.integration.tickets.harness import (
    T0,
    Harness,
    closed_payload,
    new_tenant,
    poll,
    routed,
    token,
)
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.runtime.events import envelope_subject, new_envelope, unpack
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb
from triage.tickets.v1 import events_pb2 as tickets_events
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb

pytestmark = pytest.mark.integration
RESET = ingest_pb.ALERT_KIND_RESET
#: Flap damping off: what a tenant gets with ``tickets.flap_damping=off`` (issue 18).
UNDAMPED = TenantSettings(damping=Damping(enabled=False))


async def _open(harness: Harness, tenant: str, **kwargs: object) -> str:
    await harness.publish_and_wait(routed(tenant, **kwargs))  # type: ignore[arg-type]
    tickets = await harness.tickets(tenant)
    assert len(tickets) == 1
    return tickets[0].id


async def test_trigger_opens_one_ticket(harness: Harness) -> None:
    tenant = new_tenant()
    envelope = routed(tenant, assignee="bob", queue="servers")
    await harness.publish(envelope)
    [ticket] = await harness.wait_tickets(tenant, lambda ts: len(ts) == 1)
    assert ticket.number == 1
    assert ticket.title == "dev-1: disk low"
    assert ticket.dedup_key == f"{tenant}/dev-1/disk-c"
    assert ticket.occurrence_count == 1
    assert ticket.first_occurrence_at == ticket.last_occurrence_at == T0
    assert ticket.linked_series_keys == ("int-1:series-1",)
    assert (ticket.assignee, ticket.queue, int(ticket.priority)) == ("bob", "servers", 2)
    assert ticket.close_on_reset and ticket.reset_in_rmm_on_close
    assert not ticket.human_touched
    [opened] = await harness.events(tenant, "ticket.opened")
    payload = unpack(opened, tickets_events.TicketOpened)
    assert payload.ticket.id == ticket.id
    assert payload.series_key == "int-1:series-1"
    assert payload.rule_set_version == 7


async def test_repeat_adds_occurrences_to_the_open_ticket(harness: Harness) -> None:
    tenant = new_tenant()
    await _open(harness, tenant)
    for minutes in (1, 2):
        await harness.publish_and_wait(
            routed(tenant, occurred=T0 + timedelta(minutes=minutes), series="int-2:other")
        )
    [ticket] = await harness.tickets(tenant)
    assert ticket.occurrence_count == 3
    assert ticket.last_occurrence_at == T0 + timedelta(minutes=2)
    assert ticket.linked_series_keys == ("int-1:series-1", "int-2:other")
    occurred = await harness.events(tenant, "ticket.occurred")
    assert [unpack(e, tickets_events.TicketOccurred).occurrence_count for e in occurred] == [2, 3]


async def test_occurrence_comments_are_coalesced_per_interval(harness: Harness) -> None:
    tenant = new_tenant()
    await harness.put_settings(
        tenant, TenantSettings(occurrence_comment_interval=timedelta(minutes=10))
    )
    ticket_id = await _open(harness, tenant)
    for minutes in (1, 2, 11, 12):
        await harness.publish_and_wait(routed(tenant, occurred=T0 + timedelta(minutes=minutes)))
    async with harness.channel() as channel:
        reply = await harness.stub(channel).ListComments(
            pb.ListCommentsRequest(ticket_id=ticket_id), metadata=token(tenant)
        )
    bodies = [c.body for c in reply.comments]
    assert len(bodies) == 1
    assert "occurred 3 more times since 2026-03-02 09:00:00Z (4 in total)" in bodies[0]
    assert reply.comments[0].author_kind == res.AUTHOR_KIND_SYSTEM


async def test_reset_of_untouched_ticket_closes_it_and_announces_it(harness: Harness) -> None:
    tenant = new_tenant()
    ticket_id = await _open(harness, tenant)
    await harness.publish_and_wait(routed(tenant, kind=RESET, occurred=T0 + timedelta(minutes=5)))
    [ticket] = await harness.tickets(tenant)
    assert ticket.id == ticket_id
    assert not ticket.is_open
    assert ticket.status is Status.CLOSED
    assert ticket.close_reason is CloseReason.ALERT_RESET
    [closed] = await harness.events(tenant, "ticket.closed")
    payload = closed_payload(closed)
    assert payload.auto
    assert payload.reason == res.CLOSE_REASON_ALERT_RESET
    assert list(payload.linked_series_keys) == ["int-1:series-1"]
    assert not payload.reset_alert  # the RMM already reset it
    comments = await harness.events(tenant, "ticket.commented")
    body = unpack(comments[-1], tickets_events.TicketCommented).comment.body
    assert "reset in the RMM" in body and "Closing" in body

    async def published() -> bool:
        try:
            msg = await harness.bus.js.get_last_msg(
                "TRIAGE_TICKET", f"triage.ticket.closed.{tenant}.*"
            )
        except Exception:
            return False
        return bool(msg.data)

    await poll(published)


async def test_inactive_reset_asks_ingest_to_reset_the_alert(harness: Harness) -> None:
    tenant = new_tenant()
    await _open(harness, tenant)
    await harness.publish_and_wait(
        routed(
            tenant,
            kind=RESET,
            occurred=T0 + timedelta(minutes=5),
            labels={"triage.reset_origin": "inactive"},
        )
    )
    [closed] = await harness.events(tenant, "ticket.closed")
    payload = closed_payload(closed)
    assert payload.reason == res.CLOSE_REASON_ALERT_INACTIVE
    assert payload.reset_alert


async def _reset(harness: Harness, tenant: str) -> None:
    await harness.publish_and_wait(routed(tenant, kind=RESET, occurred=T0 + timedelta(minutes=5)))


async def test_reset_after_human_comment_leaves_it_open(harness: Harness) -> None:
    tenant = new_tenant()
    ticket_id = await _open(harness, tenant)
    async with harness.channel() as channel:
        await harness.stub(channel).AddComment(
            pb.AddCommentRequest(
                ticket_id=ticket_id,
                comment=res.Comment(body="Looking", visibility=res.COMMENT_VISIBILITY_INTERNAL),
            ),
            metadata=token(tenant),
        )
    await _reset(harness, tenant)
    [ticket] = await harness.tickets(tenant)
    assert ticket.is_open and ticket.human_touched
    assert await harness.events(tenant, "ticket.closed") == []
    comments = await harness.events(tenant, "ticket.commented")
    assert (
        "a person has worked on this ticket"
        in unpack(comments[-1], tickets_events.TicketCommented).comment.body
    )


async def test_reset_after_time_entry_leaves_it_open(harness: Harness) -> None:
    tenant = new_tenant()
    ticket_id = await _open(harness, tenant)
    async with harness.channel() as channel:
        await harness.stub(channel).AddTimeEntry(
            pb.AddTimeEntryRequest(
                ticket_id=ticket_id,
                time_entry=res.TimeEntry(duration=duration_pb2.Duration(seconds=900)),
            ),
            metadata=token(tenant),
        )
    await _reset(harness, tenant)
    [ticket] = await harness.tickets(tenant)
    assert ticket.is_open and ticket.human_touched


async def test_reset_after_manual_status_change_leaves_it_open(harness: Harness) -> None:
    tenant = new_tenant()
    ticket_id = await _open(harness, tenant)
    async with harness.channel() as channel:
        await harness.stub(channel).UpdateTicket(
            pb.UpdateTicketRequest(
                ticket=res.Ticket(id=ticket_id, status=res.TICKET_STATUS_IN_PROGRESS),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ),
            metadata=token(tenant),
        )
    await _reset(harness, tenant)
    [ticket] = await harness.tickets(tenant)
    assert ticket.is_open and ticket.status is Status.IN_PROGRESS


async def test_reset_after_rule_assignment_still_closes(harness: Harness) -> None:
    tenant = new_tenant()
    await _open(harness, tenant, assignee="bob", queue="servers")
    await _reset(harness, tenant)
    [ticket] = await harness.tickets(tenant)
    assert ticket.assignee == "bob"
    assert not ticket.is_open and not ticket.human_touched


async def test_reset_after_sla_escalation_still_closes(harness: Harness) -> None:
    tenant = new_tenant()
    ticket_id = await _open(harness, tenant)
    threshold = sla_events.SlaThreshold(
        ticket=sla_pb.SlaTicketRef(ticket_id=ticket_id),
        target_kind=sla_pb.SLA_TARGET_KIND_RESOLUTION,
        percent=75,
        actions=[
            sla_pb.ThresholdAction(escalate=sla_pb.EscalateAction(raise_levels=1)),
            sla_pb.ThresholdAction(reassign=sla_pb.ReassignAction(queue="tier-2")),
        ],
    )
    await harness.publish_and_wait(
        new_envelope(
            tenant_id=tenant, event_type="sla.threshold", payload=threshold, producer="sla"
        )
    )
    [ticket] = await harness.tickets(tenant)
    assert (int(ticket.priority), ticket.queue) == (1, "tier-2")
    assert not ticket.human_touched
    [updated] = await harness.events(tenant, "ticket.updated")
    payload = unpack(updated, tickets_events.TicketUpdated)
    assert payload.cause == res.CHANGE_CAUSE_SLA_ESCALATION
    assert sorted(payload.changed_paths) == ["priority", "queue"]
    await _reset(harness, tenant)
    [ticket] = await harness.tickets(tenant)
    assert not ticket.is_open


async def test_reset_when_rule_keeps_tickets_open(harness: Harness) -> None:
    tenant = new_tenant()
    await _open(harness, tenant, close_on_reset=False)
    await _reset(harness, tenant)
    [ticket] = await harness.tickets(tenant)
    assert ticket.is_open


async def test_reset_before_its_trigger_closes_the_ticket_the_trigger_opens(
    harness: Harness,
) -> None:
    # In occurrence order the trigger opens a ticket and the reset closes it (issue 13).
    tenant = new_tenant()
    await harness.put_settings(tenant, UNDAMPED)  # a re-fire opens a new ticket
    await harness.publish_and_wait(routed(tenant, kind=RESET, occurred=T0 + timedelta(minutes=5)))
    late = routed(tenant, occurred=T0)
    await harness.publish_and_wait(late)
    [ticket] = await harness.tickets(tenant)
    assert not ticket.is_open and ticket.close_reason is CloseReason.ALERT_RESET
    assert ticket.occurrence_count == 1 and ticket.first_occurrence_at == T0
    await harness.publish_and_wait(routed(tenant, occurred=T0 + timedelta(minutes=6)))
    first, second = await harness.tickets(tenant)
    assert first.id == ticket.id and not first.is_open
    assert second.is_open and second.first_occurrence_at == T0 + timedelta(minutes=6)


async def test_trigger_after_close_opens_a_new_ticket(harness: Harness) -> None:
    tenant = new_tenant()
    await harness.put_settings(tenant, UNDAMPED)
    first = await _open(harness, tenant)
    await _reset(harness, tenant)
    await harness.publish_and_wait(routed(tenant, occurred=T0 + timedelta(minutes=10)))
    tickets = await harness.tickets(tenant)
    assert [t.number for t in tickets] == [1, 2]
    assert tickets[0].id == first and not tickets[0].is_open
    assert tickets[1].is_open and tickets[1].occurrence_count == 1


async def test_trigger_soon_after_close_reopens_when_the_tenant_prefers(harness: Harness) -> None:
    tenant = new_tenant()
    await harness.put_settings(tenant, TenantSettings(reopen_within=timedelta(hours=1)))
    first = await _open(harness, tenant)
    await _reset(harness, tenant)
    await harness.publish_and_wait(routed(tenant, occurred=T0 + timedelta(minutes=10)))
    [ticket] = await harness.tickets(tenant)
    assert ticket.id == first and ticket.is_open
    assert ticket.reopen_count == 1 and ticket.occurrence_count == 2
    [reopened] = await harness.events(tenant, "ticket.reopened")
    assert unpack(reopened, tickets_events.TicketReopened).cause == res.CHANGE_CAUSE_SYSTEM


async def test_redelivered_events_have_no_second_effect(harness: Harness) -> None:
    tenant = new_tenant()
    envelope = routed(tenant)
    await harness.publish_and_wait(envelope)
    repeat = routed(tenant, occurred=T0 + timedelta(minutes=1))
    await harness.publish_and_wait(repeat)
    for again in (envelope, repeat):
        # A new Nats-Msg-Id escapes JetStream's dedup window: only the inbox stands between.
        await harness.bus.publish_raw(
            envelope_subject(again), again.SerializeToString(), event_id=str(uuid.uuid4())
        )
    marker = routed(tenant, device="other-device")
    await harness.publish_and_wait(marker)

    async def drained() -> bool:
        return not await group_pending(harness.bus.js, "TRIAGE_ALERT", "tickets-alert-routed")

    await poll(drained)
    tickets = await harness.tickets(tenant)
    assert [t.occurrence_count for t in tickets] == [2, 1]
    assert len(await harness.events(tenant, "ticket.opened")) == 2


async def test_persistence_delay_opens_after_enough_triggers(harness: Harness) -> None:
    tenant = new_tenant()
    persistence = (3, timedelta(minutes=10))
    await harness.publish_and_wait(routed(tenant, persistence=persistence))
    await harness.publish_and_wait(
        routed(tenant, persistence=persistence, occurred=T0 + timedelta(minutes=20))
    )
    await harness.publish_and_wait(
        routed(tenant, persistence=persistence, occurred=T0 + timedelta(minutes=22))
    )
    assert await harness.tickets(tenant) == []
    await harness.publish_and_wait(
        routed(tenant, persistence=persistence, occurred=T0 + timedelta(minutes=25))
    )
    [ticket] = await harness.tickets(tenant)
    assert ticket.occurrence_count == 3
    assert ticket.first_occurrence_at == T0 + timedelta(minutes=20)


async def test_record_only_suppressed_and_unmatched_open_nothing(harness: Harness) -> None:
    tenant = new_tenant()
    for envelope in (
        routed(tenant, ticket_action=rules_pb.TICKET_ACTION_RECORD_ONLY),
        routed(tenant, decision_kind=rules_pb.DECISION_KIND_SUPPRESSED),
        routed(
            tenant,
            decision_kind=rules_pb.DECISION_KIND_UNMATCHED,
            ticket_action=rules_pb.TICKET_ACTION_UNSPECIFIED,
        ),
    ):
        await harness.publish_and_wait(envelope)
    assert await harness.tickets(tenant) == []
    await harness.publish_and_wait(routed(tenant, decision_kind=rules_pb.DECISION_KIND_UNMATCHED))
    assert len(await harness.tickets(tenant)) == 1


async def test_with_damping_a_refire_soon_after_close_reopens(harness: Harness) -> None:
    # The default (flap damping on): within its 30-minute window the same ticket reopens.
    tenant = new_tenant()
    first = await _open(harness, tenant)
    await _reset(harness, tenant)
    await harness.publish_and_wait(routed(tenant, occurred=T0 + timedelta(minutes=10)))
    [ticket] = await harness.tickets(tenant)
    assert ticket.id == first and ticket.is_open and ticket.reopen_count == 1


async def test_with_damping_another_series_of_the_key_opens_a_new_ticket(
    harness: Harness,
) -> None:
    # Damping keeps one ticket for one flapping check (series), not for the key.
    tenant = new_tenant()
    first = await _open(harness, tenant)
    await _reset(harness, tenant)
    await harness.publish_and_wait(
        routed(tenant, series="int-1:series-2", occurred=T0 + timedelta(minutes=10))
    )
    old, new = await harness.tickets(tenant)
    assert old.id == first and not old.is_open and new.is_open
