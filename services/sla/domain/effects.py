"""What deciding on ticket events and timers produces: clocks to write, audit entries, and
notices (the ``sla.*`` events to publish, as plain values)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.sla.domain.clock import TargetKind
from services.sla.domain.ticket import AuditEntry, AuditKind, ClockRecord, TicketView


@dataclass(frozen=True, slots=True)
class Started:
    """``sla.started``: a ticket's clocks began."""

    view: TicketView
    records: tuple[ClockRecord, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class Paused:
    """``sla.paused``: running clocks stopped counting."""

    view: TicketView
    kinds: tuple[TargetKind, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class Resumed:
    """``sla.resumed``: paused clocks count again."""

    view: TicketView
    records: tuple[ClockRecord, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class ThresholdReached:
    """``sla.threshold``: a clock used ``percent`` of its target."""

    view: TicketView
    kind: TargetKind
    percent: int
    due: datetime
    fired: datetime
    late: bool
    target_due: datetime | None
    actions: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Breached:
    """``sla.breached``: a clock passed its target."""

    view: TicketView
    kind: TargetKind
    due: datetime | None
    recorded: datetime
    late: bool
    actions: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Met:
    """``sla.met``: a clock completed (in time, or after its breach)."""

    view: TicketView
    record: ClockRecord
    at: datetime
    after_breach: bool


@dataclass(frozen=True, slots=True)
class Cancelled:
    """``sla.cancelled``: a clock ended with no outcome (its ticket was merged away)."""

    view: TicketView
    record: ClockRecord
    at: datetime
    due: datetime | None
    """When the clock was due as it was cancelled (None if it was paused)."""
    merged_into_id: str
    merged_into_number: int


Notice = Started | Paused | Resumed | ThresholdReached | Breached | Met | Cancelled
"""One outgoing ``sla.*`` event."""


@dataclass(slots=True)
class Effects:
    """What one transaction changes: clocks, audit entries and notices, written at the end.

    ``new_id`` names audit entries (the caller's id source keeps this module free of I/O).
    """

    new_id: Callable[[], str]
    clocks: list[tuple[str, ClockRecord]] = field(default_factory=list)
    audit: list[tuple[str, AuditEntry]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    stopped: list[tuple[str, str, TargetKind]] = field(default_factory=list)

    def entry(
        self,
        tenant_id: str,
        ticket_id: str,
        kind: AuditKind,
        *,
        target: TargetKind,
        cause: str,
        at: datetime,
        event_id: str = "",
        before: ClockRecord | None = None,
        after: ClockRecord | None = None,
        percent: int = 0,
        late: bool = False,
    ) -> None:
        """Append one audit entry of a clock's change from ``before`` to ``after``."""
        self.audit.append(
            (
                tenant_id,
                AuditEntry(
                    id=self.new_id(),
                    ticket_id=ticket_id,
                    target_kind=target,
                    kind=kind,
                    cause=cause,
                    event_at=at,
                    cause_event_id=event_id,
                    before_state=before.reported_state(at) if before else None,
                    after_state=after.reported_state(at) if after else None,
                    before_due_at=before.clock.due_at if before else None,
                    after_due_at=after.clock.due_at if after else None,
                    percent=percent,
                    late=late,
                ),
            )
        )

    def timer_dues(self) -> list[datetime]:
        """The next threshold instant of every clock written, for waking the timer worker."""
        return [nxt[1] for _, r in self.clocks if (nxt := r.clock.next_threshold()) is not None]
