"""Flap damping, pure: how many times a series changed state in a window, and whether
that makes it flapping (issue 18).

A series *changes state* each time one of its events differs in kind (trigger or reset)
from the event before it. With damping on, a series that changed state at least
``changes`` times in the ``window`` ending at an event is flapping: its ticket stays open
(resets neither close nor comment it one by one), and it closes once the series has been
quiet (reset, nothing since) for ``window``. See docs/DECISIONS.md for the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.tickets.domain.alerts import AlertKind
from services.tickets.domain.tickets import Damping

#: An event of a series for damping: (occurred_at, sequence, kind).
StateEvent = tuple[datetime, int, AlertKind]


def state_changes(
    events: Sequence[StateEvent], *, upto: tuple[datetime, int], window: timedelta
) -> int:
    """How many times the series changed state in ``[upto - window, upto]`` (the first
    event in the window counts as a change: what came before it is out of sight)."""
    start = upto[0] - window
    seen = sorted(e for e in events if start <= e[0] and (e[0], e[1]) <= upto)
    count, previous = 0, None
    for _, _, kind in seen:
        if kind is not previous:
            count += 1
        previous = kind
    return count


def is_flapping(
    events: Sequence[StateEvent], *, upto: tuple[datetime, int], damping: Damping
) -> bool:
    """Whether the series is flapping at ``upto`` under ``damping``."""
    if not damping.enabled:
        return False
    return state_changes(events, upto=upto, window=damping.window) >= damping.changes


def quiet_since(events: Sequence[StateEvent]) -> tuple[datetime, bool] | None:
    """When the series last changed and whether that last event was a reset (None: no
    events)."""
    if not events:
        return None
    last = max(events)
    return last[0], last[2] is AlertKind.RESET


def flapping_comment(changes: int, window: timedelta) -> str:
    """The one comment a ticket gets when its series starts flapping."""
    minutes = int(window.total_seconds() // 60)
    return (
        f"The alert is flapping: it changed state {changes} times in {minutes} minutes. "
        "This ticket stays open; further triggers and resets are counted, not commented "
        f"one by one, and it closes once the alert has stayed reset for {minutes} minutes."
    )


def quiet_close_comment(events: int, window: timedelta) -> str:
    """The comment of the close after a flapping series went quiet."""
    minutes = int(window.total_seconds() // 60)
    return (
        f"The alert stopped flapping ({events} triggers and resets): reset and quiet for "
        f"{minutes} minutes. Closing it: nobody had worked on it."
    )


def settled_comment(window: timedelta) -> str:
    """The comment when a flapping series stays triggered (quiet, but not reset)."""
    minutes = int(window.total_seconds() // 60)
    return (
        f"The alert stopped flapping (no state change for {minutes} minutes); it is still active."
    )
