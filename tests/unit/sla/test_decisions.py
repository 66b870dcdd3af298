"""What ticket events and due timers do to clocks, decided with no I/O (domain/batch,
domain/transitions, domain/firing): the notices, audit entries and clock writes."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

from services.sla.domain.batch import calendars_needed, decide_batch
from services.sla.domain.calendar_spec import default_calendar
from services.sla.domain.clock import ClockState, TargetKind
from services.sla.domain.effects import Breached, Effects, Met, Paused, Started, ThresholdReached
from services.sla.domain.firing import fire_thresholds
from services.sla.domain.policy import PolicySpec, ScopeKind, Target, Targets, ThresholdRule
from services.sla.domain.ticket import AuditKind, ChangeKind, TicketChange, TicketFacts

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
H = timedelta(hours=1)
TENANT = "00000000-0000-0000-0000-00000000000a"
TICKET = "00000000-0000-0000-0000-0000000000b1"
AWAITING_CUSTOMER = 4
POLICY = PolicySpec(
    id="p1",
    name="24x7",
    scope=ScopeKind.TENANT_DEFAULT,
    targets=(Targets(2, Target(H, business_time=False), Target(4 * H, business_time=False)),),
    thresholds=(ThresholdRule(50), ThresholdRule(100)),
    version=3,
)


def _effects() -> Effects:
    counter = itertools.count()
    return Effects(new_id=lambda: f"id-{next(counter)}")


def _facts(at: datetime, *, status: int = 2) -> TicketFacts:
    return TicketFacts(
        ticket_id=TICKET,
        number=7,
        title="disk full",
        priority=2,
        status=status,
        client_id="c1",
        client_name="Acme",
        queue="ops",
        assignee="",
        reopen_count=0,
        opened_at=T0,
        updated_at=at,
    )


def _change(
    kind: ChangeKind, at: datetime, *, status: int = 2, human: bool = False, public: bool = False
) -> TicketChange:
    return TicketChange(
        kind, f"event-{kind}-{at:%H%M}", at, _facts(at, status=status), human=human, public=public
    )


def test_open_respond_close_in_one_batch_starts_and_meets_both_clocks() -> None:
    effects = _effects()
    outcome = decide_batch(
        [
            (TENANT, _change(ChangeKind.OPENED, T0)),
            (TENANT, _change(ChangeKind.COMMENTED, T0 + 0.25 * H, human=True, public=True)),
            (TENANT, _change(ChangeKind.CLOSED, T0 + H)),
        ],
        views={},
        clocks={},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0 + 2 * H,
        effects=effects,
    )
    (view,) = outcome.created
    assert view.closed and view.first_response_at == T0 + 0.25 * H
    assert view.snapshot.policy == POLICY
    assert outcome.changed == [] and outcome.notices_per_change == [1, 1, 1]
    assert [type(n) for n in effects.notices] == [Started, Met, Met]
    assert [e.kind for _, e in effects.audit] == [
        AuditKind.STARTED,
        AuditKind.STARTED,
        AuditKind.MET,
        AuditKind.MET,
    ]
    # One write per clock: the last state it reached in the batch.
    assert sorted((r.kind, r.clock.state) for _, r in effects.clocks) == [
        (TargetKind.FIRST_RESPONSE, ClockState.MET),
        (TargetKind.RESOLUTION, ClockState.MET),
    ]


def test_waiting_on_the_customer_pauses_and_an_older_event_moves_nothing_back() -> None:
    started = _effects()
    opened = decide_batch(
        [(TENANT, _change(ChangeKind.OPENED, T0))],
        views={},
        clocks={},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0,
        effects=started,
    )
    (view,) = opened.created
    key = (TENANT, TICKET)
    records = [r for _, r in started.clocks]
    effects = _effects()
    outcome = decide_batch(
        [
            (TENANT, _change(ChangeKind.UPDATED, T0 + H, status=AWAITING_CUSTOMER)),
            (TENANT, _change(ChangeKind.UPDATED, T0 + 0.5 * H, status=2)),
        ],
        views={key: view},
        clocks={key: records},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0 + H,
        effects=effects,
    )
    (paused,) = effects.notices
    assert isinstance(paused, Paused)
    assert set(paused.kinds) == {TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION}
    assert outcome.notices_per_change == [1, 0]
    (saved,) = outcome.changed
    assert saved.facts.status == AWAITING_CUSTOMER
    assert all(r.clock.state is ClockState.PAUSED for _, r in effects.clocks)


def test_a_due_timer_fires_each_passed_threshold_once_and_a_stale_one_none() -> None:
    started = _effects()
    (view,) = decide_batch(
        [(TENANT, _change(ChangeKind.OPENED, T0))],
        views={},
        clocks={},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0,
        effects=started,
    ).created
    resolution = next(r for _, r in started.clocks if r.kind is TargetKind.RESOLUTION)
    effects = _effects()
    lateness = fire_thresholds(
        view,
        resolution,
        current=True,
        now=T0 + 5 * H,
        late_after=timedelta(seconds=30),
        effects=effects,
    )
    assert lateness == [3 * 3600.0, 3600.0]
    reached, breached = effects.notices
    assert isinstance(reached, ThresholdReached) and reached.percent == 50 and reached.late
    assert isinstance(breached, Breached) and breached.due == T0 + 4 * H
    ((_, fired),) = effects.clocks
    assert fired.breached_at == T0 + 5 * H and fired.fence == resolution.fence + 1

    stale = _effects()
    assert (
        fire_thresholds(
            view, resolution, current=False, now=T0 + 5 * H, late_after=timedelta(0), effects=stale
        )
        == []
    )
    assert stale.notices == [] and stale.audit == []
    ((_, rescheduled),) = stale.clocks
    assert rescheduled.clock == resolution.clock and rescheduled.fence == resolution.fence + 1


def test_only_new_tickets_name_the_calendars_to_load() -> None:
    office = PolicySpec(
        id="p2", name="office", scope=ScopeKind.CLIENT, client_id="c1", calendar_id="cal-1"
    )
    changes = [
        (TENANT, _change(ChangeKind.OPENED, T0)),
        (TENANT, _change(ChangeKind.CLOSED, T0 + H)),
        ("other", _change(ChangeKind.OPENED, T0)),
    ]
    assert calendars_needed(changes, {}, {TENANT: [POLICY, office]}) == [(TENANT, "cal-1")]
    (view,) = decide_batch(
        changes[:1],
        views={},
        clocks={},
        zones={},
        policies={TENANT: [POLICY]},
        calendars={},
        now=T0,
        effects=_effects(),
    ).created
    known = {(TENANT, TICKET): view, ("other", TICKET): view}
    assert calendars_needed(changes, known, {TENANT: [office]}) == []


def test_a_new_ticket_starts_under_its_policy_calendar_or_the_tenant_zone_default() -> None:
    office = PolicySpec(
        id="p2",
        name="office",
        scope=ScopeKind.TENANT_DEFAULT,
        calendar_id="cal-1",
        targets=POLICY.targets,
    )
    calendar = dataclasses.replace(default_calendar("Europe/Paris"), id="cal-1", version=2)
    for found, zone in ((calendar, "Europe/Paris"), (None, "America/Chicago")):
        (view,) = decide_batch(
            [(TENANT, _change(ChangeKind.OPENED, T0))],
            views={},
            clocks={},
            zones={TENANT: "America/Chicago"},
            policies={TENANT: [office]},
            calendars={(TENANT, "cal-1"): found},
            now=T0,
            effects=_effects(),
        ).created
        assert view.snapshot.calendar.zone == zone
