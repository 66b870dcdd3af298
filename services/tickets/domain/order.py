"""Pure decisions for alerts that arrive out of occurrence order (issue 13).

The series log (``series_log``) keeps every trigger and reset of a series with the ticket it
counted on or acted on. With it an event that arrives late is applied where it would have
landed in occurrence order:

- a trigger older than a reset already applied counts on the ticket that reset acted on
  (no reopen), or, if that reset found no ticket, opens the ticket the reset then decides on;
- a reset older than triggers already applied splits their ticket: the occurrences after
  the reset leave it for a new ticket, on which the later resets that acted on the old
  ticket are replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.tickets.domain.alerts import (
    AlertKind,
    ResetDecision,
    ResetOrigin,
    RoutedAlert,
    decide_reset,
    persistence_met,
)
from services.tickets.domain.tickets import CloseReason, Status, Ticket

#: An event's place in its series: occurrence time, then the source's sequence number.
Position = tuple[datetime, int]


def position(alert: RoutedAlert) -> Position:
    """Where ``alert`` stands in its series."""
    return (alert.occurred_at, alert.sequence)


@dataclass(frozen=True, slots=True)
class Logged:
    """One trigger or reset of a series, with the ticket it counted on or acted on."""

    series_key: str
    alert_id: str
    kind: AlertKind
    occurred_at: datetime
    sequence: int
    ticket_id: str | None
    close_on_reset: bool | None = None
    reset_in_rmm_on_close: bool | None = None
    origin: str = ""

    @property
    def position(self) -> Position:
        """Where this event stands in its series."""
        return (self.occurred_at, self.sequence)


def logged(alert: RoutedAlert, ticket_id: str | None, origin: ResetOrigin | None = None) -> Logged:
    """The log entry of ``alert`` applied to ``ticket_id`` (None: to no ticket)."""
    is_reset = alert.kind is AlertKind.RESET
    return Logged(
        series_key=alert.series_key,
        alert_id=alert.alert_id,
        kind=alert.kind,
        occurred_at=alert.occurred_at,
        sequence=alert.sequence,
        ticket_id=ticket_id,
        close_on_reset=alert.actions.close_on_reset if is_reset else None,
        reset_in_rmm_on_close=alert.actions.reset_in_rmm_on_close if is_reset else None,
        origin=origin.value if origin is not None else "",
    )


def replay_reset(
    entry: Logged, ticket: Ticket, *, last_occurrence_at: datetime | None
) -> ResetDecision:
    """What the logged reset ``entry`` decides on ``ticket`` (its rule overrides kept)."""
    return decide_reset(
        origin=ResetOrigin(entry.origin) if entry.origin else ResetOrigin.RMM_RESET,
        reset_at=entry.occurred_at,
        last_occurrence_at=last_occurrence_at,
        close_on_reset=ticket.close_on_reset
        if entry.close_on_reset is None
        else entry.close_on_reset,
        human_touched=ticket.human_touched,
        reset_in_rmm_on_close=ticket.reset_in_rmm_on_close
        if entry.reset_in_rmm_on_close is None
        else entry.reset_in_rmm_on_close,
        series_key=entry.series_key,
    )


def fresh_ticket_decision(
    entry: Logged, alert: RoutedAlert, *, last_occurrence_at: datetime | None = None
) -> ResetDecision:
    """What the logged reset ``entry`` decides on a ticket the late trigger ``alert`` opens
    (untouched, the trigger's rule; its last occurrence ``alert``'s unless given)."""
    actions = alert.actions
    return decide_reset(
        origin=ResetOrigin(entry.origin) if entry.origin else ResetOrigin.RMM_RESET,
        reset_at=entry.occurred_at,
        last_occurrence_at=alert.occurred_at if last_occurrence_at is None else last_occurrence_at,
        close_on_reset=_first(entry.close_on_reset, actions.close_on_reset),
        human_touched=False,
        reset_in_rmm_on_close=_first(entry.reset_in_rmm_on_close, actions.reset_in_rmm_on_close),
        series_key=entry.series_key,
    )


def _first(override: bool | None, rule: bool | None) -> bool:
    if override is not None:
        return override
    return True if rule is None else rule


@dataclass(frozen=True, slots=True)
class Persisted:
    """Where a stretch of one series' triggers (between two resets) met a persistence
    delay, replayed in occurrence order."""

    #: The triggers counted when the delay was met, oldest first; the last one met it.
    window: tuple[Logged, ...]
    #: The stretch's triggers after that one, oldest first (occurrences of its ticket).
    after: tuple[Logged, ...]

    def counted(self, *, reopens: bool) -> tuple[Logged, ...]:
        """The triggers the stretch's ticket counts: the window and the rest when a new
        ticket opens; the trigger that met the delay and the rest when it reopens one (a
        reopen counts its own trigger only)."""
        return (*(self.window[-1:] if reopens else self.window), *self.after)


def persisted(triggers: Sequence[Logged], *, count: int, within: timedelta) -> Persisted | None:
    """Replay a stretch's ``triggers`` in order under a delay of ``count`` triggers within
    ``within`` (each trigger forgets those older than ``within`` before it, as the trigger
    log does); None when the delay is never met."""
    ordered = sorted(triggers, key=lambda e: e.position)
    pending: list[Logged] = []
    for i, entry in enumerate(ordered):
        since = entry.occurred_at - within
        pending = [*(p for p in pending if p.occurred_at >= since), entry]
        times = [p.occurred_at for p in pending]
        if persistence_met(times, now=entry.occurred_at, count=count, within=within):
            return Persisted(window=tuple(pending), after=tuple(ordered[i + 1 :]))
    return None


@dataclass(frozen=True, slots=True)
class Split:
    """A ticket's logged triggers around a reset of one series."""

    kept: tuple[Logged, ...]
    moved: tuple[Logged, ...]
    #: Resets logged on the ticket after the reset, oldest first (replayed on the new one).
    later_resets: tuple[Logged, ...]

    @property
    def last_kept(self) -> datetime | None:
        """The latest occurrence that stays on the ticket, if one is logged."""
        return max((e.occurred_at for e in self.kept), default=None)


def split_at(entries: Sequence[Logged], *, series_key: str, at: Position) -> Split:
    """Split a ticket's log ``entries`` at a reset of ``series_key`` at ``at``.

    The series' triggers after the reset move; other series' triggers stay (their own
    resets decide about them, and a later one keeps the ticket open as before).
    """
    triggers = [e for e in entries if e.kind is AlertKind.TRIGGER]
    moved = tuple(e for e in triggers if e.series_key == series_key and e.position > at)
    kept = tuple(e for e in triggers if e not in moved)
    later = sorted(
        (e for e in entries if e.kind is AlertKind.RESET and e.position > at),
        key=lambda e: e.position,
    )
    return Split(kept=kept, moved=moved, later_resets=tuple(later))


def closed_again_later(split: Split, ticket: Ticket) -> bool:
    """Whether the split's moved occurrences all follow the first later reset logged on
    ``ticket`` and that reset closes it. Then (for a tenant that reopens) that close and
    their reopen already happened: in order this reset's close takes its place, and the
    ticket ends the same."""
    if not split.moved or not split.later_resets:
        return False
    first = split.later_resets[0]
    if any(e.position < first.position for e in split.moved):
        return False
    return replay_reset(first, ticket, last_occurrence_at=split.last_kept).closes


def without_moved(ticket: Ticket, split: Split, *, logged_triggers: int, now: datetime) -> Ticket:
    """``ticket`` once the split's moved occurrences left it.

    Occurrences from before the log existed are not in ``split``; they are older, so the
    first occurrence is kept as it was when the log does not hold them all.
    """
    kept_times = [e.occurred_at for e in split.kept]
    first = ticket.first_occurrence_at
    if logged_triggers >= ticket.occurrence_count and kept_times:
        first = min(kept_times)
    return replace(
        ticket,
        occurrence_count=max(1, ticket.occurrence_count - len(split.moved)),
        first_occurrence_at=first,
        last_occurrence_at=split.last_kept or first,
        version=ticket.version + 1,
        updated_at=now,
    )


def split_off(
    ticket: Ticket, split: Split, *, ticket_id: str, number: int, now: datetime
) -> Ticket:
    """The new open ticket of the split's moved occurrences (the old ticket's alert fields)."""
    times = [e.occurred_at for e in split.moved]
    series = tuple(dict.fromkeys(e.series_key for e in split.moved))
    return replace(
        ticket,
        id=ticket_id,
        number=number,
        status=Status.NEW,
        occurrence_count=len(times),
        first_occurrence_at=min(times),
        last_occurrence_at=max(times),
        linked_series_keys=series,
        human_touched=False,
        close_reason=CloseReason.UNSPECIFIED,
        reopen_count=0,
        created_at=now,
        updated_at=now,
        closed_at=None,
        version=1,
        occurrence_comment_at=max(times),
        uncommented_occurrences=0,
    )


def late_trigger_note(alert: RoutedAlert, reset: Logged) -> str:
    """The comment on a ticket that counts a trigger which arrived after its reset."""
    return (
        f"The alert of {alert.occurred_at:%Y-%m-%d %H:%M:%SZ} arrived after the reset of "
        f"{reset.occurred_at:%Y-%m-%d %H:%M:%SZ}; counted as an occurrence of this ticket, "
        "which it belonged to (not reopened)."
    )


def joined_note(alert: RoutedAlert, reset: Logged) -> str:
    """The comment on a ticket that takes a late trigger from before the reset that, in
    order, would have closed it before its first occurrence here reopened it."""
    return (
        f"The alert of {alert.occurred_at:%Y-%m-%d %H:%M:%SZ} arrived after the reset of "
        f"{reset.occurred_at:%Y-%m-%d %H:%M:%SZ}; in order it would have opened this ticket, "
        "the reset closed it and the next trigger reopened it: counted here."
    )


def split_note(moved: int, reset_at: datetime, *, number: int) -> str:
    """The comment on a ticket whose later occurrences moved to ticket ``number``."""
    times = "occurrence" if moved == 1 else "occurrences"
    return (
        f"A reset of {reset_at:%Y-%m-%d %H:%M:%SZ} arrived after {moved} later {times} of the "
        f"alert; they moved to ticket #{number}, as if the reset had arrived in time."
    )


def split_origin_note(number: int, reset_at: datetime) -> str:
    """The comment on a ticket opened by a split."""
    return (
        f"Opened for the occurrences after the reset of {reset_at:%Y-%m-%d %H:%M:%SZ}, "
        f"which arrived late: they had been counted on ticket #{number}."
    )
