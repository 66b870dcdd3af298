"""What one ticket event does to a ticket's clocks: pure decisions, recorded in
:class:`~services.sla.domain.effects.Effects` (clocks, audit entries, notices)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime

from services.sla.domain.clock import Clock, ClockError, ClockState, TargetKind
from services.sla.domain.effects import Breached, Cancelled, Effects, Met, Paused, Resumed
from services.sla.domain.ticket import (
    AuditKind,
    ChangeKind,
    ClockRecord,
    TicketChange,
    TicketView,
    priority_name,
    status_name,
)

log = logging.getLogger(__name__)

KINDS = (TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION)


def new_clock(
    view: TicketView, kind: TargetKind, priority: int, at: datetime, *, paused: bool
) -> ClockRecord | None:
    """A fresh clock of ``kind`` for ``priority`` under the ticket's snapshot, if targeted."""
    policy = view.snapshot.policy
    targets = policy.targets_for(priority)
    target = targets.of(kind) if targets else None
    if target is None:
        return None
    clock = Clock.start(
        kind=kind,
        target=target.duration,
        calendar=view.snapshot.business,
        at=at,
        business_time=target.business_time,
        thresholds=policy.percents(kind),
        paused=paused,
    )
    return ClockRecord(ticket_id=view.facts.ticket_id, clock=clock, fence=1)


def apply_change(
    view: TicketView,
    records: Sequence[ClockRecord],
    change: TicketChange,
    *,
    now: datetime,
    effects: Effects,
) -> TicketView:
    """Move the clocks of a known ticket for one (non-opening) event; the view after it.

    An event older than the stored facts still completes or reopens clocks, but never
    moves the facts (or pauses and retargets by them) backwards.
    """
    policy = view.snapshot.policy
    newer = change.ticket.updated_at >= view.facts.updated_at
    before_facts = view.facts
    if newer:
        view = dataclasses.replace(
            view,
            facts=dataclasses.replace(
                change.ticket,
                reopen_count=max(change.ticket.reopen_count, before_facts.reopen_count),
            ),
        )
    moves = _Moves(view, {r.kind: r for r in records}, change, effects, now)

    if change.is_first_response(policy.first_response) and view.first_response_at is None:
        view = dataclasses.replace(view, first_response_at=change.at)
        moves.view = view
        moves.complete(TargetKind.FIRST_RESPONSE, "first response")

    if change.kind is ChangeKind.UPDATED and newer and not view.closed:
        if view.facts.priority != before_facts.priority:
            moves.retarget(before_facts.priority, view.facts.priority)
        wants_pause = view.facts.status in policy.pause_statuses
        was_paused = before_facts.status in policy.pause_statuses
        if wants_pause != was_paused or view.facts.status != before_facts.status:
            cause = f"status {status_name(before_facts.status)} -> {status_name(view.facts.status)}"
            if wants_pause:
                moves.pause_all(cause)
            else:
                moves.resume_all(cause)
    elif change.kind is ChangeKind.CLOSED:
        if change.ticket.reopen_count >= before_facts.reopen_count and not view.closed:
            if change.merged:
                cause = merged_cause(change.merged_into_number)
                moves.cancel(TargetKind.FIRST_RESPONSE, cause)
                moves.cancel(TargetKind.RESOLUTION, cause)
            else:
                cause = "ticket closed automatically" if change.auto else "ticket closed"
                moves.complete(TargetKind.FIRST_RESPONSE, f"{cause} (counts as response)")
                moves.complete(TargetKind.RESOLUTION, cause)
            view = dataclasses.replace(view, closed=True)
    elif (
        change.kind is ChangeKind.REOPENED
        and view.closed
        and change.ticket.reopen_count > before_facts.reopen_count
    ):
        view = dataclasses.replace(view, closed=False)
        moves.view = view
        moves.reopen(paused=change.ticket.status in policy.pause_statuses)
    moves.view = view
    moves.finish()
    return view


def merged_cause(number: int) -> str:
    """The audit cause of a close by merge, e.g. ``ticket merged into #12``."""
    return f"ticket merged into #{number}" if number else "ticket merged into another ticket"


class _Moves:
    """The clock transitions of one ticket change, recorded with their audit and notices."""

    def __init__(
        self,
        view: TicketView,
        records: dict[TargetKind, ClockRecord],
        change: TicketChange,
        effects: Effects,
        now: datetime,
    ) -> None:
        self.view = view
        self.records = records
        self.change = change
        self.effects = effects
        self.now = now
        self.touched: set[TargetKind] = set()
        self.stopped: set[TargetKind] = set()
        self.paused: list[TargetKind] = []
        self.resumed: list[TargetKind] = []

    def _at(self, clock: Clock) -> datetime:
        # Out-of-order delivery: never move a clock back before its last transition.
        return max(self.change.at, clock.last_transition_at)

    def _audit(
        self,
        kind: AuditKind,
        before: ClockRecord | None,
        after: ClockRecord | None,
        cause: str,
        at: datetime,
        target: TargetKind,
    ) -> None:
        self.effects.entry(
            self.view.tenant_id,
            self.view.facts.ticket_id,
            kind,
            target=target,
            cause=cause,
            at=at,
            event_id=self.change.event_id,
            before=before,
            after=after,
        )

    def _set(self, record: ClockRecord) -> None:
        self.records[record.kind] = record
        self.touched.add(record.kind)

    def complete(self, kind: TargetKind, cause: str) -> None:
        """Complete ``kind`` (met or breached) at the change's instant."""
        record = self.records.get(kind)
        if record is None or record.clock.is_terminal:
            return
        at = self._at(record.clock)
        try:
            done = dataclasses.replace(record, clock=record.clock.complete(at), met_at=at)
        except ClockError:
            log.warning("clock transition refused", exc_info=True)
            return
        after_breach = done.clock.state is ClockState.BREACHED
        if after_breach and done.breached_at is None:
            # Past due but no timer recorded it (no scheduler ran): record the breach now.
            done = dataclasses.replace(done, breached_at=at, breach_due_at=done.clock.due_at)
            self.effects.notices.append(
                Breached(self.view, kind, done.clock.due_at, self.now, late=True, actions=())
            )
            self._audit(AuditKind.BREACHED, record, done, cause, at, kind)
        self._set(done)
        self._audit(AuditKind.MET, record, done, cause, at, kind)
        self.effects.notices.append(
            Met(self.view, done, at, after_breach=done.breached_at is not None)
        )

    def cancel(self, kind: TargetKind, cause: str) -> None:
        """End ``kind`` with no outcome (the ticket was merged away), announced by
        ``sla.cancelled`` when it ends with no outcome indeed.

        A clock already overdue that no timer recorded (sla was down, or its timer was
        late) is recorded breached: the breach happened before the merge. It is announced
        late, with no escalation actions, as a completion past due is, so every recorded
        breach is announced once; it stays a breach, so it is not announced cancelled.
        The thresholds the dropped timer never fired are not announced. A breach a timer recorded
        for an instant after the merge (the merge reached sla late) did not happen, and is
        taken back: that clock is announced cancelled.
        """
        record = self.records.get(kind)
        if record is None or record.clock.is_terminal:
            return
        at = self._at(record.clock)
        try:
            done = dataclasses.replace(record, clock=record.clock.cancel(at))
        except ClockError:
            log.warning("clock transition refused", exc_info=True)
            return
        overdue = done.clock.consumed > done.clock.target
        if done.breached_at is not None and not overdue:
            done = dataclasses.replace(done, breached_at=None, breach_due_at=None)
        elif done.breached_at is None and overdue:
            done = dataclasses.replace(done, breached_at=at, breach_due_at=done.clock.due_at)
            self.effects.notices.append(
                Breached(self.view, kind, done.clock.due_at, self.now, late=True, actions=())
            )
            self._audit(AuditKind.BREACHED, record, done, f"{cause} (overdue)", at, kind)
        self._set(done)
        self._audit(AuditKind.CANCELLED, record, done, cause, at, kind)
        if done.breached_at is None:
            self.effects.notices.append(
                Cancelled(
                    self.view,
                    done,
                    at,
                    due=record.clock.due_at,
                    merged_into_id=self.change.merged_into_id,
                    merged_into_number=self.change.merged_into_number,
                )
            )

    def pause_all(self, cause: str) -> None:
        """Pause every running clock."""
        for kind, record in list(self.records.items()):
            if record.clock.state is not ClockState.RUNNING:
                continue
            at = self._at(record.clock)
            paused = dataclasses.replace(record, clock=record.clock.pause(at))
            self._set(paused)
            self.paused.append(kind)
            self._audit(AuditKind.PAUSED, record, paused, cause, at, kind)

    def resume_all(self, cause: str) -> None:
        """Resume every paused clock."""
        for kind, record in list(self.records.items()):
            if record.clock.state is not ClockState.PAUSED:
                continue
            at = self._at(record.clock)
            resumed = dataclasses.replace(record, clock=record.clock.resume(at))
            self._set(resumed)
            self.resumed.append(kind)
            self._audit(AuditKind.RESUMED, record, resumed, cause, at, kind)

    def reopen(self, *, paused: bool) -> None:
        """Resume the resolution clock of a reopened ticket, and a first response clock
        its merge cancelled (it was never answered)."""
        for record in list(self.records.values()):
            if not record.clock.is_terminal or (
                record.kind is not TargetKind.RESOLUTION
                and record.clock.state is not ClockState.CANCELLED
            ):
                continue
            at = self._at(record.clock)
            reopened = dataclasses.replace(
                record, clock=record.clock.reopen(at, paused=paused), met_at=None
            )
            self._set(reopened)
            self._audit(AuditKind.RESUMED, record, reopened, "ticket reopened", at, record.kind)
            if not paused:
                self.resumed.append(record.kind)

    def retarget(self, old: int, new: int) -> None:
        """Apply the targets of priority ``new`` (a priority change), audited."""
        cause = f"priority {priority_name(old)} -> {priority_name(new)}"
        policy = self.view.snapshot.policy
        targets = policy.targets_for(new)
        for kind in KINDS:
            target = targets.of(kind) if targets else None
            record = self.records.get(kind)
            if record is not None and record.clock.is_terminal:
                continue
            if record is None:
                if target is None or (
                    kind is TargetKind.FIRST_RESPONSE and self.view.first_response_at is not None
                ):
                    continue
                at = self.change.at
                paused = self.view.facts.status in policy.pause_statuses
                created = new_clock(self.view, kind, new, at, paused=paused)
                if created is not None:
                    self._set(created)
                    self._audit(AuditKind.STARTED, None, created, cause, at, kind)
                continue
            at = self._at(record.clock)
            if target is None:
                self.records.pop(kind)
                self.stopped.add(kind)
                self._audit(AuditKind.STOPPED, record, None, cause, at, kind)
                continue
            changed = dataclasses.replace(
                record,
                clock=record.clock.retarget(
                    target.duration, at, business_time=target.business_time
                ),
            )
            self._set(changed)
            self._audit(AuditKind.RECOMPUTED, record, changed, cause, at, kind)

    def finish(self) -> None:
        """Record the changed clocks and the pause/resume notices."""
        at = self.change.at
        if self.paused:
            self.effects.notices.append(Paused(self.view, tuple(self.paused), at))
        if self.resumed:
            self.effects.notices.append(
                Resumed(self.view, tuple(self.records[k] for k in self.resumed), at)
            )
        for kind in self.touched:
            if kind in self.records:
                record = self.records[kind]
                self.effects.clocks.append(
                    (self.view.tenant_id, dataclasses.replace(record, fence=record.fence + 1))
                )
        self.effects.stopped.extend(
            (self.view.tenant_id, self.view.facts.ticket_id, k) for k in self.stopped
        )
