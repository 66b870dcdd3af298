"""A ticket closed because it was merged into another one: its clocks end CANCELLED (neither
met nor breached), a breach that happened before the merge stays one, and nothing is left
to fire."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.sla.convert import clock_to_proto
from services.sla.domain.batch import decide_batch
from services.sla.domain.calendar import BusinessCalendar
from services.sla.domain.clock import Clock, ClockError, ClockState, TargetKind
from services.sla.domain.effects import Breached, Cancelled, Effects, Met, Resumed
from services.sla.domain.firing import fire_thresholds
from services.sla.domain.policy import PolicySpec, ScopeKind, Target, Targets, ThresholdRule
from services.sla.domain.ticket import (
    AuditKind,
    ChangeKind,
    ClockRecord,
    TicketChange,
    TicketFacts,
    TicketView,
)
from services.sla.events import ticket_change
from triage.runtime import new_envelope, to_timestamp
from triage.sla.v1 import resources_pb2 as pb
from triage.tickets.v1 import events_pb2 as tev
from triage.tickets.v1 import resources_pb2 as tpb

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
H = timedelta(hours=1)
TENANT = "00000000-0000-0000-0000-00000000000a"
TICKET = "00000000-0000-0000-0000-0000000000b1"
POLICY = PolicySpec(
    id="p1",
    name="24x7",
    scope=ScopeKind.TENANT_DEFAULT,
    targets=(Targets(2, Target(H, business_time=False), Target(4 * H, business_time=False)),),
    thresholds=(ThresholdRule(50), ThresholdRule(100)),
)
KEY = (TENANT, TICKET)


def _effects() -> Effects:
    counter = itertools.count()
    return Effects(new_id=lambda: f"id-{next(counter)}")


def _facts(at: datetime, *, reopen_count: int = 0) -> TicketFacts:
    return TicketFacts(
        ticket_id=TICKET,
        number=7,
        title="disk full",
        priority=2,
        status=2,
        client_id="c1",
        client_name="Acme",
        queue="ops",
        assignee="",
        reopen_count=reopen_count,
        opened_at=T0,
        updated_at=at,
    )


def _opened() -> tuple[TicketView, dict[TargetKind, ClockRecord]]:
    effects = _effects()
    (view,) = decide_batch(
        [(TENANT, TicketChange(ChangeKind.OPENED, "open", T0, _facts(T0)))],
        views={},
        clocks={},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0,
        effects=effects,
    ).created
    return view, {r.kind: r for _, r in effects.clocks}


def _merge(
    view: TicketView, records: list[ClockRecord], at: datetime
) -> tuple[TicketView, dict[TargetKind, ClockRecord], Effects]:
    effects = _effects()
    merged = TicketChange(
        ChangeKind.CLOSED, "merge", at, _facts(at), merged=True, merged_into_number=12
    )
    outcome = decide_batch(
        [(TENANT, merged)],
        views={KEY: view},
        clocks={KEY: records},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=at,
        effects=effects,
    )
    (after,) = outcome.changed
    return after, {r.kind: r for _, r in effects.clocks}, effects


def test_a_merged_close_cancels_running_clocks_instead_of_meeting_them() -> None:
    view, records = _opened()
    after, clocks, effects = _merge(view, list(records.values()), T0 + 0.5 * H)

    assert after.closed
    assert {k: r.clock.state for k, r in clocks.items()} == {
        TargetKind.FIRST_RESPONSE: ClockState.CANCELLED,
        TargetKind.RESOLUTION: ClockState.CANCELLED,
    }
    for record in clocks.values():
        assert record.reported_state(T0 + 10 * H) is ClockState.CANCELLED
        assert record.met_at is None and record.breached_at is None
        # Nothing left to fire: the timer is dropped with the clock's next threshold.
        assert record.clock.next_threshold() is None
        proto = clock_to_proto(record, T0 + 10 * H)
        assert proto.state == pb.SLA_STATE_CANCELLED
        assert not proto.HasField("met_time")
        assert proto.cancel_time.ToDatetime(tzinfo=UTC) == T0 + 0.5 * H
    assert not any(isinstance(n, Met) for n in effects.notices)
    # Each clock's end is announced once, as cancelled (sla.cancelled).
    assert [(type(n), n.record.kind) for n in effects.notices if isinstance(n, Cancelled)] == [
        (Cancelled, TargetKind.FIRST_RESPONSE),
        (Cancelled, TargetKind.RESOLUTION),
    ]
    assert len(effects.notices) == 2
    assert [e.kind for _, e in effects.audit] == [AuditKind.CANCELLED, AuditKind.CANCELLED]
    assert all("merged into #12" in e.cause for _, e in effects.audit)
    assert effects.timer_dues() == []


def test_a_target_breached_before_the_merge_stays_breached() -> None:
    view, records = _opened()
    fired = _effects()
    # 1 h first response: its breach fires at T0 + 1 h; the 4 h resolution is at 25 %.
    fire_thresholds(
        view,
        records[TargetKind.FIRST_RESPONSE],
        current=True,
        now=T0 + 1.5 * H,
        late_after=timedelta(seconds=30),
        effects=fired,
    )
    ((_, breached),) = fired.clocks
    assert breached.breached_at == T0 + 1.5 * H

    _, clocks, effects = _merge(view, [breached, records[TargetKind.RESOLUTION]], T0 + 2 * H)

    first = clocks[TargetKind.FIRST_RESPONSE]
    assert first.clock.state is ClockState.CANCELLED
    assert first.reported_state(T0 + 10 * H) is ClockState.BREACHED
    assert first.breached_at == T0 + 1.5 * H and first.met_at is None
    assert clocks[TargetKind.RESOLUTION].reported_state(T0 + 10 * H) is ClockState.CANCELLED
    # The breach stays one: only the resolution clock is announced cancelled.
    assert [(type(n), n.record.kind) for n in effects.notices if isinstance(n, Cancelled)] == [
        (Cancelled, TargetKind.RESOLUTION)
    ]
    assert len(effects.notices) == 1


def test_an_overdue_clock_no_timer_recorded_is_recorded_breached_at_the_merge() -> None:
    view, records = _opened()
    _, clocks, effects = _merge(view, list(records.values()), T0 + 2 * H)

    first = clocks[TargetKind.FIRST_RESPONSE]
    assert first.reported_state(T0 + 10 * H) is ClockState.BREACHED
    assert first.breach_due_at == T0 + H and first.met_at is None
    assert clocks[TargetKind.RESOLUTION].reported_state(T0 + 10 * H) is ClockState.CANCELLED
    # The breach is audited and announced late with no escalation actions (once, as a
    # completion past due is), and not announced cancelled (it is a breach). The
    # resolution clock is announced cancelled.
    assert [e.kind for _, e in effects.audit if e.target_kind is TargetKind.FIRST_RESPONSE] == [
        AuditKind.BREACHED,
        AuditKind.CANCELLED,
    ]
    assert [(type(n), n.record.kind) for n in effects.notices if isinstance(n, Cancelled)] == [
        (Cancelled, TargetKind.RESOLUTION)
    ]
    breaches = [n for n in effects.notices if isinstance(n, Breached)]
    assert [(n.kind, n.due, n.late, n.actions) for n in breaches] == [
        (TargetKind.FIRST_RESPONSE, T0 + H, True, ())
    ]
    assert len(effects.notices) == 2


def test_reopening_a_merged_ticket_resumes_its_cancelled_clocks() -> None:
    view, records = _opened()
    after, clocks, _ = _merge(view, list(records.values()), T0 + 0.5 * H)
    effects = _effects()
    reopened = TicketChange(
        ChangeKind.REOPENED, "reopen", T0 + 3 * H, _facts(T0 + 3 * H, reopen_count=1)
    )
    decide_batch(
        [(TENANT, reopened)],
        views={KEY: after},
        clocks={KEY: list(clocks.values())},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0 + 3 * H,
        effects=effects,
    )
    resumed = {r.kind: r for _, r in effects.clocks}
    assert {k: r.clock.state for k, r in resumed.items()} == {
        TargetKind.FIRST_RESPONSE: ClockState.RUNNING,
        TargetKind.RESOLUTION: ClockState.RUNNING,
    }
    # The half hour before the merge still counts.
    assert resumed[TargetKind.RESOLUTION].clock.due_at == T0 + 6.5 * H
    assert [type(n) for n in effects.notices] == [Resumed]


def test_the_close_event_of_a_merge_reads_as_merged() -> None:
    ticket = tpb.Ticket(
        id=TICKET,
        number=7,
        status=tpb.TICKET_STATUS_CLOSED,
        create_time=to_timestamp(T0),
        update_time=to_timestamp(T0 + H),
        close_time=to_timestamp(T0 + H),
    )
    for reason, merged in ((tpb.CLOSE_REASON_MERGED, True), (tpb.CLOSE_REASON_MANUAL, False)):
        payload = tev.TicketClosed(ticket=ticket, reason=reason, actor="tech")
        if merged:
            payload.merged_into.CopyFrom(tev.MergedInto(ticket_id="t2", ticket_number=12))
        change = ticket_change(
            new_envelope(
                tenant_id=TENANT,
                event_type="ticket.closed",
                payload=payload,
                producer="tickets",
                ordering_key=TICKET,
            )
        )
        assert change is not None and change.kind is ChangeKind.CLOSED
        assert change.merged is merged
        assert change.merged_into_number == (12 if merged else 0)


def test_a_breach_recorded_for_an_instant_after_the_merge_is_taken_back() -> None:
    view, records = _opened()
    fired = _effects()
    # The merge at T0 + 30 min reaches sla late: the 1 h first response's timer fired first.
    fire_thresholds(
        view,
        records[TargetKind.FIRST_RESPONSE],
        current=True,
        now=T0 + 1.5 * H,
        late_after=timedelta(seconds=30),
        effects=fired,
    )
    ((_, breached),) = fired.clocks
    assert breached.breached_at is not None

    _, clocks, _ = _merge(view, [breached, records[TargetKind.RESOLUTION]], T0 + 0.5 * H)

    first = clocks[TargetKind.FIRST_RESPONSE]
    assert first.reported_state(T0 + 10 * H) is ClockState.CANCELLED
    assert first.breached_at is None and first.breach_due_at is None
    # Half the target was used by the merge: only the 50 % warning was really reached.
    assert first.clock.fired == frozenset({50})


def test_a_paused_clock_cancels_and_only_a_cancelled_first_response_reopens() -> None:
    clock = Clock.start(
        kind=TargetKind.FIRST_RESPONSE,
        target=H,
        calendar=BusinessCalendar.always(),
        at=T0,
        business_time=False,
    )
    paused = clock.pause(T0 + 0.25 * H)
    cancelled = paused.cancel(T0 + 2 * H)
    assert cancelled.state is ClockState.CANCELLED and cancelled.is_terminal
    assert cancelled.consumed == 0.25 * H and cancelled.paused_at is None
    assert cancelled.status(T0 + 10 * H) is ClockState.CANCELLED
    with pytest.raises(ClockError):
        cancelled.cancel(T0 + 3 * H)
    assert cancelled.reopen(T0 + 3 * H).due_at == T0 + 3.75 * H
    with pytest.raises(ClockError):
        clock.complete(T0 + 0.5 * H).reopen(T0 + H)
