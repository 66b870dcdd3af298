"""A late reset under its rule's persistence delay (issue 13): it splits the stretch the
triggers around it were counted in (the series' triggers between two resets), and each
half meets the delay on its own, or not.

- The window that opened the ticket counted a trigger from before the reset and one
  after it (the triggers before it never met the delay alone): in order the reset found
  nothing, and the ticket is the one the triggers after it open. It keeps what those count
  and loses the rest; if they never meet the delay either, no ticket opens in order, and
  the ticket (its ``ticket.opened`` already sent) is withdrawn: closed by the system.
- The ticket opened before the reset: the reset decides on it and the triggers after it
  that move to a new ticket are the ones that meet the delay there (the others wait).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import events as ev
from services.tickets.domain.alerts import AlertKind, RoutedAlert, reopenable
from services.tickets.domain.delays import StraddleVerdict, delayed_moves, straddle_verdict
from services.tickets.domain.order import (
    Logged,
    Split,
    logged,
    persisted,
    position,
    replay_reset,
)
from services.tickets.domain.tickets import (
    SYSTEM_ACTOR,
    Cause,
    CloseReason,
    HistoryKind,
    Status,
    TenantSettings,
    Ticket,
    diff,
)
from services.tickets.service.changes import ChangePaths
from services.tickets.service.late_paths import locked, note
from services.tickets.store import alert_state as alert_store
from services.tickets.store import series_log
from services.tickets.store import tickets as ticket_store

_COUNTS = (
    "occurrence_count",
    "first_occurrence_at",
    "last_occurrence_at",
    "reopen_count",
    "status",
)


async def recount(
    service: ChangePaths, session: AsyncSession, before: Ticket, after: Ticket, detail: str
) -> Ticket:
    """Save ``after`` (``before`` with other occurrences), with its history and event."""
    after = replace(after, version=before.version + 1, updated_at=service._clock())
    paths = [p for p in _COUNTS if getattr(before, p) != getattr(after, p)]
    await ticket_store.save_ticket(session, after)
    await service._history(
        session,
        after,
        HistoryKind.UPDATED,
        Cause.ALERT,
        SYSTEM_ACTOR,
        changes=diff(before, after, paths),
        detail=detail,
    )
    await service._outbox.add(
        session, ev.updated(before, after, paths=paths, cause=Cause.ALERT, actor=SYSTEM_ACTOR)
    )
    return after


async def _wait_again(session: AsyncSession, alert: RoutedAlert, entries: list[Logged]) -> None:
    """Put ``entries`` (triggers after the reset, none counted in order) back in the trigger
    log: in order they wait there for the delay."""
    for e in entries:
        await alert_store.log_trigger(
            session,
            tenant_id=alert.tenant_id,
            dedup_key=alert.dedup_key,
            alert_id=e.alert_id,
            occurred_at=e.occurred_at,
        )


async def straddled(
    service: ChangePaths, session: AsyncSession, alert: RoutedAlert, ticket: Ticket
) -> list[Ticket] | None:
    """The late reset ``alert`` inside the window that opened (or reopened) ``ticket``
    (which holds triggers of the stretch around it): see the module. None when the window
    did not straddle it, or nothing changes (the usual split applies)."""
    tenant, series, at = alert.tenant_id, alert.series_key, position(alert)
    actions = alert.actions
    count, within = actions.persistence_count, actions.persistence_within
    before = await series_log.last_reset_before(
        session, tenant_id=tenant, series_key=series, before=at
    )
    start = None if before is None else before.position
    mine = await series_log.triggers_between(
        session, tenant_id=tenant, series_key=series, after=start, before=at
    )
    entries = await series_log.of_ticket(session, tenant_id=tenant, ticket_id=ticket.id)
    older = [
        e
        for e in entries
        if e.kind is AlertKind.TRIGGER and start is not None and e.position < start
    ]
    if before is not None and before.ticket_id == ticket.id:
        last = max((e.occurred_at for e in older), default=None)
        if not replay_reset(before, ticket, last_occurrence_at=last).closes:
            return None  # open when the stretch began: no delay to meet
    if persisted(mine, count=count, within=within) is not None:
        return None
    after, following = await series_log.up_to_next_reset(
        session, tenant_id=tenant, series_key=series, after=at
    )
    held = [e for e in (*mine, *after) if e.ticket_id == ticket.id]
    met = persisted(after, count=count, within=within)
    counted = () if met is None else met.counted(reopens=bool(older))
    skipped: list[Logged] = []
    while (
        not counted
        and following is not None
        and following.ticket_id == ticket.id
        and not replay_reset(
            following, ticket, last_occurrence_at=max((e.occurred_at for e in held), default=None)
        ).closes
    ):
        # A reset that kept it open (and found nothing in order): the delay starts over.
        skipped.append(following)
        start_at = following.position
        after, following = await series_log.up_to_next_reset(
            session, tenant_id=tenant, series_key=series, after=start_at
        )
        held += [e for e in after if e.ticket_id == ticket.id]
        met = persisted(after, count=count, within=within)
        counted = () if met is None else met.counted(reopens=bool(older))
    if straddle_verdict(held, counted) is StraddleVerdict.UNCHANGED:
        return None
    ids = {e.alert_id for e in held}
    await series_log.reassign(session, tenant_id=tenant, entries=skipped, ticket_id=None)
    rest = [e for e in entries if e.kind is AlertKind.TRIGGER and e.alert_id not in ids]
    times = [e.occurred_at for e in (*rest, *counted)]
    new_count = ticket.occurrence_count - len(held) + len(counted)
    await series_log.add(session, tenant_id=tenant, entry=logged(alert, None))
    await series_log.reassign(session, tenant_id=tenant, entries=held, ticket_id=None)
    if counted:
        changed = replace(
            ticket,
            occurrence_count=new_count,
            first_occurrence_at=min(times),
            last_occurrence_at=max(times),
        )
        changed = await recount(
            service, session, ticket, changed, f"alert {alert.alert_id} (a late reset)"
        )
        await series_log.reassign(session, tenant_id=tenant, entries=counted, ticket_id=ticket.id)
        changed = await note(service, session, changed, _regrouped_note(alert.occurred_at))
        return [changed]
    if not older and following is not None:
        opened = await _opened_later(service, session, alert, ticket, following, rest, new_count)
        if opened is not None:
            return [opened]
    if following is None:
        await _wait_again(session, alert, after)
    if ticket.is_open:
        # In order the later resets that kept it open found nothing either.
        later = [e for e in entries if e.kind is AlertKind.RESET and e.position > at]
        await series_log.reassign(session, tenant_id=tenant, entries=later, ticket_id=None)
    closed = _reopened_from(entries, older, ticket)
    return [await _withdraw(service, session, ticket, alert, new_count, times, closed)]


async def _opened_later(
    service: ChangePaths,
    session: AsyncSession,
    alert: RoutedAlert,
    ticket: Ticket,
    closer: Logged,
    rest: list[Logged],
    new_count: int,
) -> Ticket | None:
    """``ticket``, whose window the late reset ``alert`` withdraws, when all it has left
    came after the reset ``closer`` closed it, where a later window reopened it: in order
    that window opened it (nothing was open before), so it counts its waiting triggers,
    loses that reopen, and ``closer`` found nothing. None otherwise."""
    tenant, series = alert.tenant_id, alert.series_key
    if (
        not rest
        or closer.ticket_id != ticket.id
        or any(e.series_key != series or e.position < closer.position for e in rest)
    ):
        return None
    bound = await series_log.next_reset(
        session, tenant_id=tenant, series_key=series, after=closer.position
    )
    stretch = await series_log.triggers_between(
        session,
        tenant_id=tenant,
        series_key=series,
        after=closer.position,
        before=None if bound is None else bound.position,
    )
    actions = alert.actions
    met = persisted(stretch, count=actions.persistence_count, within=actions.persistence_within)
    if met is None or met.window[-1].ticket_id != ticket.id:
        return None
    extra = [e for e in met.window[:-1] if e.ticket_id is None]
    times = [e.occurred_at for e in (*rest, *extra)]
    changed = replace(
        ticket,
        occurrence_count=new_count + len(extra),
        first_occurrence_at=min(times),
        last_occurrence_at=max(times),
        reopen_count=max(0, ticket.reopen_count - 1),
        # Never reopened in order: as the window left it when it opened.
        status=Status.NEW if ticket.status is Status.OPEN else ticket.status,
    )
    changed = await recount(
        service, session, ticket, changed, f"alert {alert.alert_id} (a late reset)"
    )
    await series_log.reassign(session, tenant_id=tenant, entries=extra, ticket_id=ticket.id)
    await series_log.reassign(session, tenant_id=tenant, entries=[closer], ticket_id=None)
    return await note(service, session, changed, _regrouped_note(alert.occurred_at))


def _reopened_from(
    entries: list[Logged], older: list[Logged], ticket: Ticket
) -> CloseReason | None:
    """Why ``ticket`` was closed before the stretch whose window reopened it (the last
    reset logged on it before the stretch); None when that window opened it."""
    if not older:
        return None
    start = max(e.position for e in older)
    closers = [e for e in entries if e.kind is AlertKind.RESET and e.position > start]
    if not closers:
        return None
    closer = min(closers, key=lambda e: e.position)
    last = max(e.occurred_at for e in older)
    decision = replay_reset(closer, ticket, last_occurrence_at=last)
    return decision.close_reason if decision.closes else None


async def later_ticket(session: AsyncSession, alert: RoutedAlert) -> Ticket | None:
    """The ticket the first counted trigger after the reset ``alert`` (before the next
    reset) counted on, locked."""
    tenant, series, at = alert.tenant_id, alert.series_key, position(alert)
    first = await series_log.first_trigger_after(
        session, tenant_id=tenant, series_key=series, after=at, acted=True
    )
    if first is None or first.ticket_id is None:
        return None
    following = await series_log.next_reset(session, tenant_id=tenant, series_key=series, after=at)
    if following is not None and following.position < first.position:
        return None
    return await locked(session, tenant, first.ticket_id)


async def _withdraw(
    service: ChangePaths,
    session: AsyncSession,
    ticket: Ticket,
    alert: RoutedAlert,
    new_count: int,
    times: list[datetime],
    reopened_from: CloseReason | None,
) -> Ticket:
    """``ticket`` without the occurrences that in order opened (or reopened) nothing (none
    left: withdrawn), closed by the system if open. A closed one keeps its close: a later
    trigger of the series that meets the delay in order may count on it again. A ticket
    the window reopened (``reopened_from``: why it was closed before) loses that reopen
    and is closed again for that reason: in order it stayed closed."""
    changed = replace(
        ticket,
        occurrence_count=new_count,
        first_occurrence_at=min(times, default=None),
        last_occurrence_at=max(times, default=None),
        reopen_count=max(0, ticket.reopen_count - (0 if reopened_from is None else 1)),
    )
    changed = await recount(
        service, session, ticket, changed, f"alert {alert.alert_id} (a late reset)"
    )
    changed = await note(service, session, changed, _withdrawn_note(alert.occurred_at))
    if not changed.is_open:
        return changed
    return await service._close(
        session,
        changed,
        status=Status.CLOSED,
        reason=CloseReason.SYSTEM if reopened_from is None else reopened_from,
        cause=Cause.SYSTEM,
        actor=SYSTEM_ACTOR,
        reset_alert=False,
        auto=True,
    )


async def delayed_split(
    service: ChangePaths,
    session: AsyncSession,
    alert: RoutedAlert,
    split: Split,
    settings: TenantSettings,
) -> tuple[Split, tuple[Logged, ...]]:
    """``split`` with only the moved triggers that meet the delay after the reset (up to
    the next reset) left to move; and the others, which wait in order (put back in the
    trigger log when no reset follows)."""
    actions = alert.actions
    if actions.persistence_count <= 1 or not split.moved:
        return split, ()
    tenant, series, at = alert.tenant_id, alert.series_key, position(alert)
    after, following = await series_log.up_to_next_reset(
        session, tenant_id=tenant, series_key=series, after=at
    )
    met = persisted(after, count=actions.persistence_count, within=actions.persistence_within)
    reopens = met is not None and reopenable(
        service._clock(), occurred_at=met.window[-1].occurred_at, settings=settings
    )
    moved, dropped = delayed_moves(split.moved, after, met, reopens=reopens)
    if following is None:
        await _wait_again(session, alert, list(dropped))
    return replace(split, moved=moved), dropped


def _regrouped_note(reset_at: datetime) -> str:
    return (
        f"A reset of {reset_at:%Y-%m-%d %H:%M:%SZ} arrived after later occurrences of the "
        "alert; in order the rule's persistence delay was met after it: this ticket keeps "
        "the occurrences after the reset that met it."
    )


def _withdrawn_note(reset_at: datetime) -> str:
    return (
        f"A reset of {reset_at:%Y-%m-%d %H:%M:%SZ} arrived after later occurrences of the "
        "alert; in order the rule's persistence delay was never met around it, so this "
        "ticket would not have opened: closed by the system (withdrawn)."
    )
