"""``sla.cancelled``: a merge announces each clock it ends with no outcome, once, and the
breaches listing tells a breach whose clock a merge cancelled later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.sla.convert import breach_to_proto
from services.sla.domain.batch import decide_batch
from services.sla.domain.clock import ClockState, TargetKind
from services.sla.domain.effects import Cancelled, Effects
from services.sla.domain.firing import fire_thresholds
from services.sla.domain.ticket import (
    BreachView,
    ChangeKind,
    ClockRecord,
    TicketChange,
    TicketView,
)
from services.sla.events import envelope, ticket_change
from tests.unit.sla.test_merged_close import (
    KEY,
    POLICY,
    T0,
    TENANT,
    TICKET,
    _effects,
    _facts,
    _opened,
)
from triage.runtime import new_envelope, to_timestamp, unpack
from triage.sla.v1 import events_pb2 as sev
from triage.sla.v1 import resources_pb2 as pb
from triage.tickets.v1 import events_pb2 as tev
from triage.tickets.v1 import resources_pb2 as tpb

H = timedelta(hours=1)
PARENT = "00000000-0000-0000-0000-0000000000c2"


def _decide(
    view: TicketView, records: list[ClockRecord], change: TicketChange, at: datetime
) -> Effects:
    effects = _effects()
    decide_batch(
        [(TENANT, change)],
        views={KEY: view},
        clocks={KEY: records},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=at,
        effects=effects,
    )
    return effects


def _merged(at: datetime) -> TicketChange:
    return TicketChange(
        ChangeKind.CLOSED,
        "merge",
        at,
        _facts(at),
        merged=True,
        merged_into_number=12,
        merged_into_id=PARENT,
    )


def _cancelled(effects: Effects) -> list[Cancelled]:
    return [n for n in effects.notices if isinstance(n, Cancelled)]


def test_a_merge_announces_each_running_clock_cancelled_once() -> None:
    view, records = _opened()
    effects = _decide(view, list(records.values()), _merged(T0 + 0.5 * H), T0 + 0.5 * H)

    assert effects.notices == _cancelled(effects)
    envelopes = [envelope(n) for n in effects.notices]
    assert [e.type for e in envelopes] == ["sla.cancelled", "sla.cancelled"]
    assert {e.ordering_key for e in envelopes} == {TICKET}
    assert {e.tenant_id for e in envelopes} == {TENANT}
    payloads = [unpack(e, sev.SlaCancelled) for e in envelopes]
    assert [p.target_kind for p in payloads] == [
        pb.SLA_TARGET_KIND_FIRST_RESPONSE,
        pb.SLA_TARGET_KIND_RESOLUTION,
    ]
    for payload, due in zip(payloads, (T0 + H, T0 + 4 * H), strict=True):
        assert payload.ticket.ticket_id == TICKET and payload.ticket.number == 7
        assert payload.reason == sev.SLA_CANCEL_REASON_MERGED
        assert payload.merged_into_ticket_id == PARENT
        assert payload.merged_into_ticket_number == 12
        assert payload.cancel_time.ToDatetime(tzinfo=UTC) == T0 + 0.5 * H
        assert payload.due_time.ToDatetime(tzinfo=UTC) == due
        assert payload.clock.state == pb.SLA_STATE_CANCELLED
        assert payload.clock.cancel_time == payload.cancel_time


def test_a_met_first_response_is_not_announced_cancelled() -> None:
    view, records = _opened()
    first = records[TargetKind.FIRST_RESPONSE]
    met = ClockRecord(
        ticket_id=TICKET, clock=first.clock.complete(T0 + 0.25 * H), met_at=T0 + 0.25 * H
    )
    effects = _decide(
        view, [met, records[TargetKind.RESOLUTION]], _merged(T0 + 0.5 * H), T0 + 0.5 * H
    )
    assert [n.record.kind for n in _cancelled(effects)] == [TargetKind.RESOLUTION]
    assert len(effects.notices) == 1


def test_a_clock_breached_before_the_merge_is_not_announced_cancelled() -> None:
    view, records = _opened()
    fired = _effects()
    fire_thresholds(
        view,
        records[TargetKind.FIRST_RESPONSE],
        current=True,
        now=T0 + 1.5 * H,
        late_after=timedelta(seconds=30),
        effects=fired,
    )
    ((_, breached),) = fired.clocks
    effects = _decide(
        view, [breached, records[TargetKind.RESOLUTION]], _merged(T0 + 2 * H), T0 + 2 * H
    )
    assert [n.record.kind for n in _cancelled(effects)] == [TargetKind.RESOLUTION]
    assert len(effects.notices) == 1


def test_a_breach_taken_back_by_a_late_merge_is_announced_cancelled() -> None:
    view, records = _opened()
    fired = _effects()
    fire_thresholds(
        view,
        records[TargetKind.FIRST_RESPONSE],
        current=True,
        now=T0 + 1.5 * H,
        late_after=timedelta(seconds=30),
        effects=fired,
    )
    ((_, breached),) = fired.clocks
    # The merge at T0 + 30 min arrives after the breach was recorded (and announced).
    effects = _decide(
        view, [breached, records[TargetKind.RESOLUTION]], _merged(T0 + 0.5 * H), T0 + 2 * H
    )
    assert [n.record.kind for n in _cancelled(effects)] == [
        TargetKind.FIRST_RESPONSE,
        TargetKind.RESOLUTION,
    ]


def test_a_paused_clock_is_announced_cancelled() -> None:
    view, records = _opened()
    paused = [
        ClockRecord(ticket_id=TICKET, clock=r.clock.pause(T0 + 0.25 * H)) for r in records.values()
    ]
    effects = _decide(view, paused, _merged(T0 + 0.5 * H), T0 + 0.5 * H)
    cancelled = _cancelled(effects)
    assert [n.record.clock.state for n in cancelled] == [ClockState.CANCELLED] * 2
    assert len(effects.notices) == 2


def test_a_second_close_of_a_merged_ticket_announces_nothing() -> None:
    view, records = _opened()
    first = _effects()
    (after,) = decide_batch(
        [(TENANT, _merged(T0 + 0.5 * H))],
        views={KEY: view},
        clocks={KEY: list(records.values())},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0 + 0.5 * H,
        effects=first,
    ).changed
    cancelled = [r for _, r in first.clocks]
    again = _decide(after, cancelled, _merged(T0 + 0.75 * H), T0 + 0.75 * H)
    assert again.notices == []


def test_the_merged_into_ticket_id_is_read_from_the_close_event() -> None:
    ticket = tpb.Ticket(
        id=TICKET,
        number=7,
        status=tpb.TICKET_STATUS_CLOSED,
        create_time=to_timestamp(T0),
        update_time=to_timestamp(T0 + H),
        close_time=to_timestamp(T0 + H),
    )
    payload = tev.TicketClosed(
        ticket=ticket,
        reason=tpb.CLOSE_REASON_MERGED,
        merged_into=tev.MergedInto(ticket_id=PARENT, ticket_number=12),
    )
    change = ticket_change(
        new_envelope(
            tenant_id=TENANT,
            event_type="ticket.closed",
            payload=payload,
            producer="tickets",
            ordering_key=TICKET,
        )
    )
    assert change is not None
    assert (change.merged_into_id, change.merged_into_number) == (PARENT, 12)


def test_a_breach_listing_row_carries_its_cancel_time() -> None:
    facts = _facts(T0 + 2 * H)
    listed = BreachView(
        ticket=facts,
        kind=TargetKind.FIRST_RESPONSE,
        due_at=T0 + H,
        breached_at=T0 + H,
        met_at=None,
        cancelled_at=T0 + 2 * H,
    )
    proto = breach_to_proto(listed)
    assert proto.cancel_time.ToDatetime(tzinfo=UTC) == T0 + 2 * H
    assert not proto.HasField("met_time")
    running = BreachView(facts, TargetKind.RESOLUTION, T0 + 4 * H, T0 + 4 * H, None)
    assert not breach_to_proto(running).HasField("cancel_time")
