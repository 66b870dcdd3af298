"""The per-target SLA clock: an immutable, pure state machine.

A ``Clock`` measures one target (first response or resolution) of one ticket. Every
transition returns a new ``Clock``; the old one is the "before" of the audit log.

Choices:

* Consumption is measured on the snapshotted calendar when ``business_time`` is set, and
  in real time (24x7) otherwise. A clock keeps its closed running segments (real start
  and end instants with the business time each consumed), so any instant at which
  consumption reached an amount, in the past or projected, is exact, and a retarget
  that switches between business and calendar time re-measures the history exactly.
* Pauses simply close a segment: time paused never counts, and time outside business
  hours never counted anyway, so a pause over a weekend costs the same as a pause over
  the business hours it covers.
* ``due_at`` is the instant the consumption reaches the target: historical once reached,
  projected while running, ``None`` while paused short of it (and for a clock completed
  while paused short of it).
* ``complete(at)`` gives MET when consumption at ``at`` is at most the target (completing
  exactly at the due instant is met), BREACHED otherwise. ``status(at)`` also reports an
  open clock past its target as BREACHED; ``state`` stays RUNNING/PAUSED until completion.
* Thresholds are whole percents (default 50/75/90/100); percent ``p`` is reached at the
  first instant with ``consumed * 100 >= target * p`` (rounded up to the microsecond),
  so 100 % is the due instant. ``next_threshold()`` gives the lowest one not yet fired
  with its exact instant, which may be in the past (a late timer, or a retarget that
  shortened the target); the caller fires it and calls ``mark_fired``.
* ``retarget`` keeps fired thresholds only if the new target is also reached by then;
  the others re-arm so warnings refer to the target in force.
* ``cancel(at)`` ends a clock with no outcome (CANCELLED: its ticket was merged into
  another, which carries the work): neither met nor breached, nothing left to fire;
  thresholds fired for instants after ``at`` re-arm. Whether it was overdue by then is
  the caller's to record (``consumed`` says).
* ``reopen`` resumes a resolution clock, keeping its consumed time; a met first
  response stays met, a cancelled one resumes too.
* Transitions at an instant earlier than the clock's last transition raise
  ``ClockError(reason="out_of_order")``; the caller decides how to order events.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.sla.domain.calendar import BusinessCalendar

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Clock",
    "ClockError",
    "ClockState",
    "Segment",
    "TargetKind",
]

ZERO = timedelta(0)
MICROSECOND = timedelta(microseconds=1)
DEFAULT_THRESHOLDS: tuple[int, ...] = (50, 75, 90, 100)
REAL_TIME = BusinessCalendar.always()


class TargetKind(StrEnum):
    """What an SLA target measures."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class ClockState(StrEnum):
    """Where a clock stands."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


TERMINAL = frozenset({ClockState.MET, ClockState.BREACHED, ClockState.CANCELLED})


class ClockError(ValueError):
    """An impossible clock transition; ``reason`` is stable for callers to match on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Segment:
    """A closed running stretch: real instants and the business time it consumed."""

    start: datetime
    end: datetime
    business: timedelta


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _check_target(target: timedelta) -> None:
    if target <= ZERO:
        raise ValueError(f"target must be positive, got {target}")


def _normalize_thresholds(thresholds: tuple[int, ...]) -> tuple[int, ...]:
    if any(isinstance(p, bool) or not isinstance(p, int) or p <= 0 for p in thresholds):
        raise ValueError(f"thresholds must be positive whole percents, got {thresholds}")
    return tuple(sorted(set(thresholds)))


def _amount(target: timedelta, percent: int) -> timedelta:
    micros = target // MICROSECOND
    return timedelta(microseconds=-(-micros * percent // 100))


@dataclass(frozen=True, slots=True)
class Clock:
    """One SLA target's clock; transitions return a new clock (see the module docstring)."""

    kind: TargetKind
    target: timedelta
    business_time: bool
    calendar: BusinessCalendar
    started_at: datetime
    state: ClockState
    running_since: datetime | None
    segments: tuple[Segment, ...] = ()
    consumed: timedelta = ZERO
    """Business time consumed by ``segments``, i.e. before the current running stretch."""
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    fired: frozenset[int] = frozenset()
    paused_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def start(
        cls,
        *,
        kind: TargetKind,
        target: timedelta,
        calendar: BusinessCalendar,
        at: datetime,
        business_time: bool = True,
        thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS,
        paused: bool = False,
    ) -> Clock:
        """Start a clock at ``at``, paused if the ticket opens in a pausing status."""
        _check_target(target)
        instant = _utc(at)
        return cls(
            kind=kind,
            target=target,
            business_time=business_time,
            calendar=calendar,
            started_at=instant,
            state=ClockState.PAUSED if paused else ClockState.RUNNING,
            running_since=None if paused else instant,
            thresholds=_normalize_thresholds(thresholds),
            paused_at=instant if paused else None,
        )

    @property
    def measure(self) -> BusinessCalendar:
        """The calendar consumption is measured on (24x7 for calendar-time targets)."""
        return self.calendar if self.business_time else REAL_TIME

    @property
    def last_transition_at(self) -> datetime:
        """The instant of the latest transition; earlier ones are refused."""
        for instant in (self.completed_at, self.paused_at, self.running_since):
            if instant is not None:
                return instant
        return self.started_at

    @property
    def is_terminal(self) -> bool:
        """Whether the clock is MET, BREACHED or CANCELLED."""
        return self.state in TERMINAL

    def _at(self, at: datetime) -> datetime:
        instant = _utc(at)
        if instant < self.last_transition_at:
            raise ClockError(
                "out_of_order",
                f"{instant.isoformat()} is before the clock's last transition "
                f"{self.last_transition_at.isoformat()}",
            )
        return instant

    def _require(self, *states: ClockState) -> None:
        if self.state not in states:
            raise ClockError(
                "invalid_transition",
                f"{self.kind} clock is {self.state}; expected one of "
                + ", ".join(str(s) for s in states),
            )

    def consumed_at(self, at: datetime) -> timedelta:
        """Business time consumed up to ``at`` (not before the last transition)."""
        if self.state is not ClockState.RUNNING or self.running_since is None:
            return self.consumed
        instant = _utc(at)
        if instant <= self.running_since:
            return self.consumed
        return self.consumed + self.measure.business_time_between(self.running_since, instant)

    def remaining(self, at: datetime) -> timedelta:
        """Business time left before the target at ``at``; negative once overdue."""
        return self.target - self.consumed_at(at)

    def percent_used(self, at: datetime) -> float:
        """Consumption at ``at`` as a percentage of the target (above 100 when overdue)."""
        return self.consumed_at(at) / self.target * 100

    def status(self, at: datetime) -> ClockState:
        """The state to report at ``at``: an open clock past its target shows BREACHED."""
        if not self.is_terminal and self.consumed_at(at) > self.target:
            return ClockState.BREACHED
        return self.state

    def instant_of(self, amount: timedelta) -> datetime | None:
        """The first instant consumption reaches ``amount``; None if paused short of it."""
        if amount <= ZERO:
            return self.started_at
        measure = self.measure
        accumulated = ZERO
        for segment in self.segments:
            if amount <= accumulated + segment.business:
                return measure.add_business_time(segment.start, amount - accumulated)
            accumulated += segment.business
        if self.state is ClockState.RUNNING and self.running_since is not None:
            return measure.add_business_time(self.running_since, amount - accumulated)
        if self.state is ClockState.MET and self.completed_at is not None:
            last_end = self.segments[-1].end if self.segments else None
            if last_end == self.completed_at:
                return measure.add_business_time(self.completed_at, amount - accumulated)
        return None

    @property
    def due_at(self) -> datetime | None:
        """The instant the target is (or was) reached; None while paused short of it."""
        return self.instant_of(self.target)

    def threshold_amount(self, percent: int) -> timedelta:
        """The consumption at which ``percent`` of the target is reached."""
        return _amount(self.target, percent)

    def next_threshold(self) -> tuple[int, datetime] | None:
        """The lowest unfired threshold and its exact instant (maybe past), if scheduled."""
        if self.is_terminal:
            return None
        for percent in self.thresholds:
            if percent not in self.fired:
                instant = self.instant_of(self.threshold_amount(percent))
                return None if instant is None else (percent, instant)
        return None

    def mark_fired(self, percent: int) -> Clock:
        """Record that ``percent`` fired."""
        if percent not in self.thresholds:
            raise ValueError(f"{percent} is not one of the thresholds {self.thresholds}")
        return dataclasses.replace(self, fired=self.fired | {percent})

    def _settled(self, at: datetime) -> Clock:
        """Close the running stretch at ``at`` (no-op unless running)."""
        if self.state is not ClockState.RUNNING or self.running_since is None:
            return self
        segment = Segment(
            self.running_since, at, self.measure.business_time_between(self.running_since, at)
        )
        return dataclasses.replace(
            self,
            segments=(*self.segments, segment),
            consumed=self.consumed + segment.business,
            running_since=None,
        )

    def pause(self, at: datetime) -> Clock:
        """Stop consuming at ``at``."""
        self._require(ClockState.RUNNING)
        instant = self._at(at)
        return dataclasses.replace(
            self._settled(instant), state=ClockState.PAUSED, paused_at=instant
        )

    def resume(self, at: datetime) -> Clock:
        """Consume again from ``at``."""
        self._require(ClockState.PAUSED)
        instant = self._at(at)
        return dataclasses.replace(
            self, state=ClockState.RUNNING, running_since=instant, paused_at=None
        )

    def complete(self, at: datetime) -> Clock:
        """Record the target as done at ``at``: MET within the target, else BREACHED."""
        self._require(ClockState.RUNNING, ClockState.PAUSED)
        instant = self._at(at)
        settled = self._settled(instant)
        outcome = ClockState.MET if settled.consumed <= self.target else ClockState.BREACHED
        return dataclasses.replace(settled, state=outcome, paused_at=None, completed_at=instant)

    def cancel(self, at: datetime) -> Clock:
        """End the clock at ``at`` with no outcome (its ticket was merged into another)."""
        self._require(ClockState.RUNNING, ClockState.PAUSED)
        instant = self._at(at)
        settled = self._settled(instant)
        # A threshold a timer fired for an instant after ``at`` (the cancel arrived late)
        # was not reached: it re-arms, should the clock be reopened.
        fired = frozenset(p for p in self.fired if _amount(self.target, p) <= settled.consumed)
        return dataclasses.replace(
            settled,
            state=ClockState.CANCELLED,
            paused_at=None,
            completed_at=instant,
            fired=fired,
        )

    def reopen(self, at: datetime, *, paused: bool = False) -> Clock:
        """Resume a completed resolution clock, or a cancelled clock, at ``at`` (paused if
        reopened into a wait)."""
        if self.kind is not TargetKind.RESOLUTION and self.state is not ClockState.CANCELLED:
            raise ClockError(
                "invalid_transition", "only a resolution or a cancelled clock can be reopened"
            )
        self._require(ClockState.MET, ClockState.BREACHED, ClockState.CANCELLED)
        instant = self._at(at)
        return dataclasses.replace(
            self,
            state=ClockState.PAUSED if paused else ClockState.RUNNING,
            running_since=None if paused else instant,
            paused_at=instant if paused else None,
            completed_at=None,
        )

    def retarget(
        self,
        target: timedelta,
        at: datetime,
        *,
        business_time: bool | None = None,
        calendar: BusinessCalendar | None = None,
        thresholds: tuple[int, ...] | None = None,
    ) -> Clock:
        """Apply a new target (a priority change) at ``at``; history is re-measured exactly."""
        self._require(ClockState.RUNNING, ClockState.PAUSED)
        _check_target(target)
        instant = self._at(at)
        settled = self._settled(instant)
        new_business = self.business_time if business_time is None else business_time
        new_calendar = self.calendar if calendar is None else calendar
        measure = new_calendar if new_business else REAL_TIME
        segments = settled.segments
        if measure != self.measure:
            segments = tuple(
                Segment(s.start, s.end, measure.business_time_between(s.start, s.end))
                for s in segments
            )
        consumed = sum((s.business for s in segments), ZERO)
        new_thresholds = (
            self.thresholds if thresholds is None else _normalize_thresholds(thresholds)
        )
        fired = frozenset(
            p for p in self.fired if p in new_thresholds and _amount(target, p) <= consumed
        )
        retargeted = dataclasses.replace(
            settled,
            target=target,
            business_time=new_business,
            calendar=new_calendar,
            segments=segments,
            consumed=consumed,
            thresholds=new_thresholds,
            fired=fired,
        )
        if self.state is ClockState.RUNNING:
            retargeted = dataclasses.replace(retargeted, running_since=instant)
        return retargeted
