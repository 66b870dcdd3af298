"""Clocks to and from JSON (the calendar travels separately, in the ticket's snapshot)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.sla.domain.calendar import BusinessCalendar
from services.sla.domain.clock import Clock, ClockState, Segment, TargetKind

__all__ = ["clock_from_json", "clock_to_json"]


def _us(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def clock_to_json(clock: Clock) -> dict[str, Any]:
    """A JSON-ready form of ``clock`` without its calendar."""
    return {
        "kind": clock.kind.value,
        "target_us": _us(clock.target),
        "business_time": clock.business_time,
        "started_at": clock.started_at.isoformat(),
        "state": clock.state.value,
        "running_since": _iso(clock.running_since),
        "segments": [
            [s.start.isoformat(), s.end.isoformat(), _us(s.business)] for s in clock.segments
        ],
        "consumed_us": _us(clock.consumed),
        "thresholds": list(clock.thresholds),
        "fired": sorted(clock.fired),
        "paused_at": _iso(clock.paused_at),
        "completed_at": _iso(clock.completed_at),
    }


def clock_from_json(data: Mapping[str, Any], calendar: BusinessCalendar) -> Clock:
    """Inverse of :func:`clock_to_json`, with the snapshotted ``calendar``."""
    started = _dt(data["started_at"])
    assert started is not None
    return Clock(
        kind=TargetKind(data["kind"]),
        target=timedelta(microseconds=data["target_us"]),
        business_time=bool(data["business_time"]),
        calendar=calendar,
        started_at=started,
        state=ClockState(data["state"]),
        running_since=_dt(data["running_since"]),
        segments=tuple(
            Segment(datetime.fromisoformat(s), datetime.fromisoformat(e), timedelta(microseconds=b))
            for s, e, b in data["segments"]
        ),
        consumed=timedelta(microseconds=data["consumed_us"]),
        thresholds=tuple(data["thresholds"]),
        fired=frozenset(data["fired"]),
        paused_at=_dt(data["paused_at"]),
        completed_at=_dt(data["completed_at"]),
    )
