"""Pure decisions under a persistence delay for one series' events that arrive out of
occurrence order (issue 13).

A stretch (a series' triggers between two resets) is replayed in occurrence order with
:func:`services.tickets.domain.order.persisted`; these decide what that replay means for
an early trigger (one older than a trigger of its stretch already applied,
``late_waits.py``), for the ticket a late trigger reopens, and for a late reset that
splits a stretch (``late_reset_delays.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.tickets.domain.alerts import RoutedAlert
from services.tickets.domain.order import Logged, Persisted


def waiting(met: Persisted | None, alert_id: str, *, reopens: bool) -> tuple[Logged, ...]:
    """The stretch's triggers other than ``alert_id`` that count where the delay was met
    (``reopens``: on a ticket it reopened) and have not counted anywhere yet."""
    if met is None:
        return ()
    return tuple(
        e for e in met.counted(reopens=reopens) if e.ticket_id is None and e.alert_id != alert_id
    )


def counts(met: Persisted | None, alert_id: str, *, reopens: bool) -> bool:
    """Whether in order the trigger ``alert_id`` counted on its stretch's ticket."""
    return met is not None and any(e.alert_id == alert_id for e in met.counted(reopens=reopens))


def carried(alert: RoutedAlert, extra: Sequence[Logged]) -> tuple[RoutedAlert, tuple[Logged, ...]]:
    """The trigger that reopens a ticket when the late ``alert`` only completed the window
    (a reopen counts the trigger that met the delay, the first of ``extra``), and the later
    triggers that count after it; ``alert`` itself when ``extra`` is empty."""
    if not extra:
        return alert, ()
    first = extra[0]
    carrier = replace(
        alert, alert_id=first.alert_id, occurred_at=first.occurred_at, sequence=first.sequence
    )
    return carrier, tuple(extra[1:])


class EarlyVerdict(enum.Enum):
    """What a trigger older than a trigger of its stretch already applied does."""

    #: The delay is not met (yet): it waits in the trigger log.
    WAITS = "waits"
    #: The delay is met but in order it counted nowhere (forgotten, or it only completed
    #: the window of a ticket that was open already).
    DROPPED = "dropped"
    #: It counts, with ``extra`` (the stretch's triggers that waited for it).
    COUNTS = "counts"
    #: It only completed a window that reopens a ticket: the trigger that met the delay
    #: (``extra[0]``) reopens it (or counts on it, when the ticket is open already), the
    #: rest of ``extra`` counts after it.
    CARRIED = "carried"


@dataclass(frozen=True, slots=True)
class Early:
    """An early trigger's verdict and the stretch's triggers that count with it."""

    verdict: EarlyVerdict
    extra: tuple[Logged, ...] = ()


def early_decision(met: Persisted | None, alert_id: str, *, reopens: bool) -> Early:
    """Decide an early trigger ``alert_id`` from its stretch replayed with it (``met``);
    ``reopens``: where the delay is met a ticket is reopened (the key's open ticket was
    held before the stretch, or its closed one is reopenable)."""
    if met is None:
        return Early(EarlyVerdict.WAITS)
    if counts(met, alert_id, reopens=reopens):
        return Early(EarlyVerdict.COUNTS, waiting(met, alert_id, reopens=reopens))
    if reopens and (extra := waiting(met, alert_id, reopens=True)):
        return Early(EarlyVerdict.CARRIED, extra)
    return Early(EarlyVerdict.DROPPED)


class StraddleVerdict(enum.Enum):
    """What a late reset inside the window that opened a ticket leaves of it."""

    #: The ticket holds exactly what the triggers after the reset count: nothing changes.
    UNCHANGED = "unchanged"
    #: It keeps the triggers after the reset that meet the delay, loses the others.
    REGROUPED = "regrouped"
    #: In order no window met the delay around the reset: it loses them all (withdrawn).
    WITHDRAWN = "withdrawn"


def straddle_verdict(held: Sequence[Logged], counted: Sequence[Logged]) -> StraddleVerdict:
    """Compare the stretch's triggers ``held`` on the ticket with those that count on it
    once the late reset splits the stretch (``counted``)."""
    ids = {e.alert_id for e in held}
    if not held or ids == {e.alert_id for e in counted}:
        return StraddleVerdict.UNCHANGED
    return StraddleVerdict.REGROUPED if counted else StraddleVerdict.WITHDRAWN


def delayed_moves(
    moved: Sequence[Logged], after: Sequence[Logged], met: Persisted | None, *, reopens: bool
) -> tuple[tuple[Logged, ...], tuple[Logged, ...]]:
    """Of the triggers ``moved`` off a ticket a late reset closes, those that still move
    (they count where the triggers ``after`` the reset meet the delay, or are not of that
    stretch) and those that wait again in order."""
    ids = {e.alert_id for e in (() if met is None else met.counted(reopens=reopens))}
    stretch = {e.alert_id for e in after}
    still = tuple(e for e in moved if e.alert_id in ids or e.alert_id not in stretch)
    return still, tuple(e for e in moved if e not in still)
