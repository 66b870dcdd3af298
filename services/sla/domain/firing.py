"""What a due timer does to its clock: every threshold whose instant has passed fires once,
in order, announced and audited; a breach records when it was recorded."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from services.sla.domain.effects import Breached, Effects, ThresholdReached
from services.sla.domain.ticket import AuditKind, ClockRecord, TicketView


def fire_thresholds(
    view: TicketView,
    record: ClockRecord,
    *,
    current: bool,
    now: datetime,
    late_after: timedelta,
    effects: Effects,
) -> list[float]:
    """Fire ``record``'s passed thresholds (none when the timer is not ``current``: its fence
    differs from the clock's, so it is only rescheduled); seconds late of each one fired.

    The clock is recorded with its fence bumped either way, so its timer is rewritten.
    """
    lateness: list[float] = []
    if current:
        policy = view.snapshot.policy
        while (nxt := record.clock.next_threshold()) is not None and nxt[1] <= now:
            percent, instant = nxt
            late = now - instant > late_after
            before = record
            record = dataclasses.replace(record, clock=record.clock.mark_fired(percent))
            actions = policy.actions(record.kind, percent)
            if percent >= 100:
                record = dataclasses.replace(record, breached_at=now, breach_due_at=instant)
                effects.notices.append(Breached(view, record.kind, instant, now, late, actions))
            else:
                effects.notices.append(
                    ThresholdReached(
                        view,
                        record.kind,
                        percent=percent,
                        due=instant,
                        fired=now,
                        late=late,
                        target_due=record.clock.due_at,
                        actions=actions,
                    )
                )
            effects.entry(
                view.tenant_id,
                record.ticket_id,
                AuditKind.BREACHED if percent >= 100 else AuditKind.THRESHOLD,
                target=record.kind,
                cause=f"{percent}% of the target used" + (" (fired late)" if late else ""),
                at=instant,
                before=before,
                after=record,
                percent=percent,
                late=late,
            )
            lateness.append((now - instant).total_seconds())
    effects.clocks.append((view.tenant_id, dataclasses.replace(record, fence=record.fence + 1)))
    return lateness
