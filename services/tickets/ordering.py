"""Alerts that arrive out of occurrence order, applied as they would have been in order.

Two gateway pods can put one series' webhooks on the stream in a different order than
they occurred. The rules are in :mod:`services.tickets.domain_order`; this module applies
them inside the consumer's transaction, through the service's own change paths (history,
comments and events as for any change), after locking the key and the rows it changes.
Each function returns the tickets it changed, latest versions, in the order changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import domain, series_log, store
from services.tickets import events as ev
from services.tickets.domain import (
    SYSTEM_ACTOR,
    AlertKind,
    AuthorKind,
    Cause,
    HistoryKind,
    ResetDecision,
    RoutedAlert,
    Status,
    TenantSettings,
    Ticket,
    Visibility,
)
from services.tickets.domain_order import (
    Logged,
    Persisted,
    Position,
    Split,
    closed_again_later,
    fresh_ticket_decision,
    joined_note,
    late_trigger_note,
    logged,
    persisted,
    position,
    replay_reset,
    split_at,
    split_note,
    split_off,
    split_origin_note,
    without_moved,
)
from triage.runtime import new_id

if TYPE_CHECKING:
    from services.tickets.service import TicketService, _Staged


def _staged(service: TicketService, session: AsyncSession) -> _Staged:
    # Imported here: the service module imports this one.
    from services.tickets.service import _Staged

    return _Staged(session, service._outbox)


async def _locked(session: AsyncSession, tenant_id: str, ticket_id: str) -> Ticket | None:
    """The ticket, its key's lock taken first (as every alert path does), then its row."""
    peek = await store.get_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id)
    if peek is None:
        return None
    if peek.dedup_key is not None:
        await store.lock(session, tenant_id=tenant_id, key=peek.dedup_key)
    return await store.get_ticket(
        session, tenant_id=tenant_id, ticket_id=ticket_id, for_update=True
    )


async def _note(service: TicketService, session: AsyncSession, ticket: Ticket, body: str) -> Ticket:
    after, _ = await service._comment(
        session, ticket, body, Visibility.INTERNAL, AuthorKind.SYSTEM, SYSTEM_ACTOR
    )
    return after


async def _decide(
    service: TicketService,
    session: AsyncSession,
    ticket: Ticket,
    decision: ResetDecision,
    staged: _Staged | None = None,
) -> Ticket:
    """A reset's comment on ``ticket`` and, if it decides so, its close."""
    ticket, _ = await service._comment(
        session,
        ticket,
        decision.comment,
        Visibility.INTERNAL,
        AuthorKind.SYSTEM,
        SYSTEM_ACTOR,
        staged=staged,
    )
    if not decision.closes:
        return ticket
    return await service._close(
        session,
        ticket,
        status=Status.CLOSED,
        reason=decision.close_reason,
        cause=Cause.ALERT,
        actor=SYSTEM_ACTOR,
        reset_alert=decision.reset_alert,
        auto=True,
        staged=staged,
    )


async def late_trigger(
    service: TicketService, session: AsyncSession, alert: RoutedAlert, settings: TenantSettings
) -> list[Ticket]:
    """A trigger older than a reset of its series already applied (its key locked).

    It counts on the ticket the first reset after it acted on, closed or not (in order it
    would have counted there before that reset came). If that reset found no ticket, the
    trigger opens one and the reset's decision is applied to it; a reset that would have
    left it open makes it the key's open ticket, so the trigger counts there instead.
    Under a persistence delay its stretch (the series' triggers between the resets around
    it) is replayed in order: it counts only where the delay would have been met with it,
    together with the stretch's triggers that waited for it. Without a logged reset (older
    data) it is dropped, as before.
    """
    tenant = alert.tenant_id
    reset = await series_log.next_reset(
        session, tenant_id=tenant, series_key=alert.series_key, after=position(alert)
    )
    if reset is None:
        await series_log.add(session, tenant_id=tenant, entry=logged(alert, None))
        return []
    stretch = None
    if alert.actions.persistence_count > 1:
        found = await _stretch(session, alert, reset)
        if not await _open_at(session, found, alert):
            if not found.counts(alert):
                return await _dropped(session, alert)
            stretch = found  # the delay decides where it counts
    if reset.ticket_id is not None:
        ticket = await _locked(session, tenant, reset.ticket_id)
        if ticket is not None:
            extra: tuple[Logged, ...] = ()
            if stretch is not None:
                reopens = await _held_before(session, ticket, stretch)
                extra = stretch.waited(alert, reopens=reopens)
            if settings.reopen_within > timedelta(0) and await _fills_a_gap(
                session, ticket, alert, reset
            ):
                ticket = _reopened_once_more(ticket)
            after = await _occur_all(service, session, ticket, alert, extra, settings)
            after = await _note(service, session, after, late_trigger_note(alert, reset))
            await series_log.add(session, tenant_id=tenant, entry=logged(alert, after.id))
            await series_log.reassign(session, tenant_id=tenant, entries=extra, ticket_id=after.id)
            return [after]
    opens = () if stretch is None else stretch.waited(alert, reopens=False)
    last = max([alert.occurred_at, *(e.occurred_at for e in opens)])
    decision = fresh_ticket_decision(reset, alert, last_occurrence_at=last)
    current = await store.open_ticket_for_key(session, tenant_id=tenant, dedup_key=alert.dedup_key)
    counted: tuple[Logged, ...] = opens
    if current is not None and not decision.closes:
        # In order this trigger's ticket stayed open and took the later triggers.
        if stretch is not None:
            counted = (*opens, *await _waited_after(session, tenant, reset, current))
        after = await _occur_all(service, session, current, alert, counted, settings)
        after = await _note(service, session, after, late_trigger_note(alert, reset))
        decision = replay_reset(reset, after, last_occurrence_at=last)
        ticket = await _decide(service, session, after, decision)
    elif current is None and (
        reopened := await _reopen_before(service, session, alert, reset, settings, stretch)
    ):
        ticket = reopened
        counted = () if stretch is None else stretch.waited(alert, reopens=True)
    elif decision.closes and (
        joined := await _join_after(service, session, alert, reset, settings, stretch)
    ):
        ticket = joined
        counted = ()  # the join logged them
    else:
        # Inserted after its close when the key has an open ticket (which came later).
        kept: tuple[Logged, ...] = ()
        stays = stretch is not None and current is None and not decision.closes
        if stays:
            # In order it stayed open and took the triggers (and resets) after the reset.
            counted, kept = await _kept_open(session, alert, reset, opens)
        staged = _staged(service, session)
        times = (alert.occurred_at, *(e.occurred_at for e in counted))
        opened = await service._open_from_alert(
            session, alert, times, staged, last_occurrence_at=max(times)
        )
        ticket = await _decide(service, session, opened, decision, staged)
        for later in kept:
            seen = [e.occurred_at for e in counted if e.position < later.position]
            replayed = replay_reset(
                later, ticket, last_occurrence_at=max([alert.occurred_at, *seen])
            )
            ticket = await _decide(service, session, ticket, replayed, staged)
        await staged.flush()
        if stays and ticket.is_open:
            await store.clear_triggers(session, tenant_id=tenant, dedup_key=alert.dedup_key)
        counted = (*counted, *kept)
    await series_log.add(session, tenant_id=tenant, entry=logged(alert, ticket.id))
    await series_log.reassign(
        session, tenant_id=tenant, entries=[reset, *counted], ticket_id=ticket.id
    )
    return [ticket]


async def _dropped(session: AsyncSession, alert: RoutedAlert) -> list[Ticket]:
    """Log a late trigger that in order would have counted nowhere."""
    await series_log.add(session, tenant_id=alert.tenant_id, entry=logged(alert, None))
    return []


@dataclass(frozen=True, slots=True)
class _Stretch:
    """A late trigger's stretch: the series' logged triggers between the reset before it
    (if any) and the next one, replayed with it under the rule's persistence delay."""

    before: Logged | None
    triggers: tuple[Logged, ...]
    met: Persisted | None

    def counts(self, alert: RoutedAlert) -> bool:
        """Whether in order ``alert`` counted on the stretch's ticket."""
        counted = () if self.met is None else self.met.counted(reopens=False)
        return any(e.alert_id == alert.alert_id for e in counted)

    def waited(self, alert: RoutedAlert, *, reopens: bool) -> tuple[Logged, ...]:
        """The stretch's other triggers that count with ``alert`` and did not count yet."""
        if self.met is None:
            return ()
        return tuple(
            e
            for e in self.met.counted(reopens=reopens)
            if e.ticket_id is None and e.alert_id != alert.alert_id
        )


async def _stretch(session: AsyncSession, alert: RoutedAlert, reset: Logged) -> _Stretch:
    before = await series_log.last_reset_before(
        session, tenant_id=alert.tenant_id, series_key=alert.series_key, before=position(alert)
    )
    triggers = await series_log.triggers_between(
        session,
        tenant_id=alert.tenant_id,
        series_key=alert.series_key,
        after=None if before is None else before.position,
        before=reset.position,
    )
    actions = alert.actions
    met = persisted(
        [*triggers, logged(alert, None)],
        count=actions.persistence_count,
        within=actions.persistence_within,
    )
    return _Stretch(before=before, triggers=tuple(triggers), met=met)


async def _open_at(session: AsyncSession, stretch: _Stretch, alert: RoutedAlert) -> bool:
    """Whether the series had an open ticket when ``alert`` occurred (no persistence delay
    to meet): a trigger of the stretch before it counted, or the reset before it kept one."""
    at = position(alert)
    if any(e.ticket_id is not None and e.position < at for e in stretch.triggers):
        return True
    before = stretch.before
    if before is None or before.ticket_id is None:
        return False
    ticket = await store.get_ticket(session, tenant_id=alert.tenant_id, ticket_id=before.ticket_id)
    if ticket is None:
        return False
    prior = await series_log.last_trigger_before(
        session, tenant_id=alert.tenant_id, series_key=alert.series_key, upto=before.position
    )
    last = None if prior is None else prior.occurred_at
    return not replay_reset(before, ticket, last_occurrence_at=last).closes


async def _held_before(session: AsyncSession, ticket: Ticket, stretch: _Stretch) -> bool:
    """Whether ``ticket`` counted triggers before the stretch (its first trigger there
    reopened it rather than opened it)."""
    if stretch.before is None:
        return False
    entries = await series_log.of_ticket(session, tenant_id=ticket.tenant_id, ticket_id=ticket.id)
    start = stretch.before.position
    return any(e.kind is AlertKind.TRIGGER and e.position < start for e in entries)


async def _kept_open(
    session: AsyncSession, alert: RoutedAlert, reset: Logged, opens: tuple[Logged, ...]
) -> tuple[tuple[Logged, ...], tuple[Logged, ...]]:
    """For a ticket the late trigger opens that ``reset`` leaves open: the triggers it
    counts (``opens`` and those after ``reset`` that waited for a persistence delay) and
    the later resets that found nothing, which in order acted on it, up to the first that
    closes it (or one that acted on another ticket)."""
    tenant, series = alert.tenant_id, alert.series_key
    counted, resets = list(opens), []
    cursor = reset
    while True:
        following = await series_log.next_reset(
            session, tenant_id=tenant, series_key=series, after=cursor.position
        )
        between = await series_log.triggers_between(
            session,
            tenant_id=tenant,
            series_key=series,
            after=cursor.position,
            before=None if following is None else following.position,
        )
        counted += [e for e in between if e.ticket_id is None]
        if following is None or following.ticket_id is not None:
            break
        resets.append(following)
        last = max([alert.occurred_at, *(e.occurred_at for e in counted)])
        if fresh_ticket_decision(following, alert, last_occurrence_at=last).closes:
            break
        cursor = following
    return tuple(counted), tuple(resets)


async def _waited_after(
    session: AsyncSession, tenant: str, reset: Logged, ticket: Ticket | None
) -> tuple[Logged, ...]:
    """The series' triggers after ``reset`` that waited for a persistence delay before
    ``ticket`` counted its first one (None: before the series' next reset); in order they
    counted on the ticket left open."""
    bound = None
    if ticket is None:
        following = await series_log.next_reset(
            session, tenant_id=tenant, series_key=reset.series_key, after=reset.position
        )
        bound = None if following is None else following.position
    later = await series_log.triggers_between(
        session,
        tenant_id=tenant,
        series_key=reset.series_key,
        after=reset.position,
        before=bound,
    )
    first = next((e.position for e in later if ticket and e.ticket_id == ticket.id), None)
    return tuple(e for e in later if e.ticket_id is None and (first is None or e.position < first))


async def _occur_all(
    service: TicketService,
    session: AsyncSession,
    ticket: Ticket,
    alert: RoutedAlert,
    extra: Sequence[Logged],
    settings: TenantSettings,
) -> Ticket:
    """``alert`` counted on ``ticket`` with the logged triggers ``extra`` (they waited for a
    persistence delay that ``alert`` meets)."""
    if extra:
        times = [e.occurred_at for e in extra]
        first, last = ticket.first_occurrence_at, ticket.last_occurrence_at
        ticket = replace(
            ticket,
            occurrence_count=ticket.occurrence_count + len(extra),
            first_occurrence_at=min([*times, *([first] if first else [])]),
            last_occurrence_at=max([*times, *([last] if last else [])]),
            uncommented_occurrences=ticket.uncommented_occurrences + len(extra),
        )
    return await service._occur(session, ticket, alert, settings)


async def _reopen_before(
    service: TicketService,
    session: AsyncSession,
    alert: RoutedAlert,
    reset: Logged,
    settings: TenantSettings,
    stretch: _Stretch | None,
) -> Ticket | None:
    """For a tenant that reopens: the ticket the reset before the late trigger closed,
    reopened with the trigger counted and ``reset`` (the next one) decided on it; None when
    in order the trigger would not have reopened it. Under a persistence delay the trigger
    that met it reopens, with the stretch's later triggers."""
    if settings.reopen_within <= timedelta(0):
        return None
    # Resets that found nothing left the ticket an earlier one closed as it was.
    before = await series_log.last_reset_before(
        session,
        tenant_id=alert.tenant_id,
        series_key=alert.series_key,
        before=position(alert),
        acted=True,
    )
    if before is None or before.ticket_id is None:
        return None
    closed = await _locked(session, alert.tenant_id, before.ticket_id)
    if closed is None or closed.is_open:
        return None
    extra = () if stretch is None else stretch.waited(alert, reopens=True)
    reopening = alert.occurred_at
    if stretch is not None and stretch.met is not None:
        reopening = stretch.met.window[-1].occurred_at
    if not domain.reopenable(closed.closed_at, occurred_at=reopening, settings=settings):
        return None
    ticket = await _reopen(service, session, closed, alert.alert_id)
    ticket = await _occur_all(service, session, ticket, alert, extra, settings)
    ticket = await _note(service, session, ticket, late_trigger_note(alert, reset))
    last = max([alert.occurred_at, *(e.occurred_at for e in extra)])
    decision = replay_reset(reset, ticket, last_occurrence_at=last)
    return await _decide(service, session, ticket, decision)


def _reopened_once_more(ticket: Ticket) -> Ticket:
    """``ticket`` counting one more close and reopen than it went through (a late trigger
    filled an empty stretch between two resets: in order it was closed and reopened)."""
    return replace(
        ticket,
        reopen_count=ticket.reopen_count + 1,
        status=Status.OPEN if ticket.status is Status.NEW else ticket.status,
    )


async def _fills_a_gap(
    session: AsyncSession, ticket: Ticket, alert: RoutedAlert, reset: Logged
) -> bool:
    """Whether the late trigger is the first of its stretch (between the reset before it,
    which closed ``ticket``, and ``reset``) on ``ticket``, which holds other stretches."""
    before = await series_log.last_reset_before(
        session, tenant_id=alert.tenant_id, series_key=alert.series_key, before=position(alert)
    )
    if before is None or before.ticket_id != ticket.id:
        return False
    entries = await series_log.of_ticket(session, tenant_id=ticket.tenant_id, ticket_id=ticket.id)
    triggers = [e for e in entries if e.kind is AlertKind.TRIGGER]
    if any(before.position < e.position < reset.position for e in triggers):
        return False
    earlier = max((e.occurred_at for e in triggers if e.position < before.position), default=None)
    return replay_reset(before, ticket, last_occurrence_at=earlier).closes


async def _join_after(
    service: TicketService,
    session: AsyncSession,
    alert: RoutedAlert,
    reset: Logged,
    settings: TenantSettings,
    stretch: _Stretch | None,
) -> Ticket | None:
    """For a tenant that reopens: the ticket of the series' next trigger after ``reset``,
    with the late trigger counted on it. In order the trigger would have opened (or
    reopened) it, ``reset`` closed it and that trigger reopened it; None when it would not
    have. Under a persistence delay the next counted trigger is taken; if its ticket opened
    there, the triggers that waited for it no longer count (a reopen counts its own only)."""
    if settings.reopen_within <= timedelta(0):
        return None
    tenant = alert.tenant_id
    after = await series_log.first_trigger_after(
        session,
        tenant_id=tenant,
        series_key=alert.series_key,
        after=reset.position,
        acted=stretch is not None,
    )
    if after is None or after.ticket_id is None:
        return None
    if not domain.reopenable(service._clock(), occurred_at=after.occurred_at, settings=settings):
        return None
    ticket = await _locked(session, tenant, after.ticket_id)
    if ticket is None:
        return None
    extra: tuple[Logged, ...] = ()
    waited: tuple[Logged, ...] = ()
    if stretch is not None:
        # The ticket an earlier reset acted on (and closed): the stretch reopened it.
        reopens = stretch.before is not None and stretch.before.ticket_id == ticket.id
        extra = stretch.waited(alert, reopens=reopens)
        waited = await _waited_for_opening(session, alert, after, ticket)
        if waited:
            ticket = replace(ticket, occurrence_count=ticket.occurrence_count - len(waited))
            await series_log.reassign(session, tenant_id=tenant, entries=waited, ticket_id=None)
    # The trigger's segment (between two resets) was empty: one more close and reopen of
    # the series' ticket, whichever segments it already holds.
    ticket = await _occur_all(service, session, _reopened_once_more(ticket), alert, extra, settings)
    ticket = await _note(service, session, ticket, joined_note(alert, reset))
    await series_log.reassign(session, tenant_id=tenant, entries=extra, ticket_id=ticket.id)
    return ticket


async def _waited_for_opening(
    session: AsyncSession, alert: RoutedAlert, first: Logged, ticket: Ticket
) -> tuple[Logged, ...]:
    """If ``ticket`` opened in the stretch of its first trigger ``first`` (after a
    persistence delay), the triggers that waited for the one that opened it."""
    tenant, series = alert.tenant_id, alert.series_key
    before = await series_log.last_reset_before(
        session, tenant_id=tenant, series_key=series, before=first.position
    )
    following = await series_log.next_reset(
        session, tenant_id=tenant, series_key=series, after=first.position
    )
    triggers = await series_log.triggers_between(
        session,
        tenant_id=tenant,
        series_key=series,
        after=None if before is None else before.position,
        before=None if following is None else following.position,
    )
    if any(e.ticket_id == ticket.id and e.position < first.position for e in triggers):
        return ()
    entries = await series_log.of_ticket(session, tenant_id=tenant, ticket_id=ticket.id)
    if any(e.kind is AlertKind.TRIGGER and e.position < first.position for e in entries):
        return ()  # it reopened there: it counted the opening trigger only
    actions = alert.actions
    met = persisted(triggers, count=actions.persistence_count, within=actions.persistence_within)
    if met is None:
        return ()
    return tuple(e for e in met.window[:-1] if e.ticket_id == ticket.id)


async def _reopen(
    service: TicketService, session: AsyncSession, ticket: Ticket, alert_id: str
) -> Ticket:
    return await service._reopen(
        session,
        ticket,
        reason=f"The alert triggered again (alert {alert_id}).",
        cause=Cause.SYSTEM,
        actor=SYSTEM_ACTOR,
        author_kind=AuthorKind.SYSTEM,
        alert_id=alert_id,
    )


def is_late(latest: Mapping[tuple[str, str, AlertKind], Position], reset: RoutedAlert) -> bool:
    """Whether a trigger or a reset of the reset's series that occurred after it was already
    applied (``latest``: see :func:`series_log.latest`)."""
    at = position(reset)
    return any(
        (found := latest.get((reset.tenant_id, reset.series_key, kind))) is not None and found > at
        for kind in (AlertKind.TRIGGER, AlertKind.RESET)
    )


async def reset_is_late(session: AsyncSession, alert: RoutedAlert) -> bool:
    """:func:`is_late`, read from the series log."""
    latest = await series_log.latest(session, [(alert.tenant_id, alert.series_key)])
    return is_late(latest, alert)


async def late_reset(
    service: TicketService, session: AsyncSession, alert: RoutedAlert
) -> list[Ticket]:
    """A reset older than triggers of its series already applied.

    In order it would have acted on the ticket of the series' last trigger before it. If
    that ticket also holds the series' later triggers and the reset closes it, they move
    to a new ticket (the old one keeps its earlier occurrences and is closed as of the
    reset), and the later resets that acted on the old ticket are replayed on the new one.
    """
    tenant, series = alert.tenant_id, alert.series_key
    await store.lock(session, tenant_id=tenant, key=alert.dedup_key)
    await store.put_tombstone(
        session,
        tenant_id=tenant,
        series_key=series,
        reset_at=alert.occurred_at,
        reset_sequence=alert.sequence,
        alert_id=alert.alert_id,
    )
    await store.clear_triggers(session, tenant_id=tenant, dedup_key=alert.dedup_key)
    origin = domain.reset_origin(alert.labels)
    at = position(alert)
    prior = await series_log.last_trigger_before(
        session, tenant_id=tenant, series_key=series, upto=at
    )
    ticket = None
    if prior is not None and prior.ticket_id is not None:
        ticket = await _locked(session, tenant, prior.ticket_id)
    if ticket is not None and prior is not None:
        between = await series_log.last_reset_before(
            session, tenant_id=tenant, series_key=series, before=at
        )
        if between is not None and between.position > prior.position:
            # A reset in between closed it (or kept it, and a later one closed it): in
            # order this one found nothing. Open, it was kept or reopened since.
            closes = replay_reset(between, ticket, last_occurrence_at=prior.occurred_at).closes
            if not ticket.is_open or closes:
                ticket = None
    if ticket is None:
        # In order nothing of this series was open yet when the reset came.
        await series_log.add(session, tenant_id=tenant, entry=logged(alert, None, origin))
        return []
    entries = await series_log.of_ticket(session, tenant_id=tenant, ticket_id=ticket.id)
    split = split_at(entries, series_key=series, at=at)
    entry = logged(alert, ticket.id, origin)
    await series_log.add(session, tenant_id=tenant, entry=entry)
    decision = replay_reset(
        entry,
        ticket,
        last_occurrence_at=split.last_kept if split.moved else ticket.last_occurrence_at,
    )
    if decision.closes and closed_again_later(split, ticket):
        return []
    changed = []
    if ticket.is_open:
        ticket = await _decide(service, session, ticket, decision)
        changed.append(ticket)
    if not decision.closes:
        return changed
    if not split.moved:
        # Closed by a later reset instead of this one: the same ticket, but in order that
        # reset found nothing (a trigger between them must open a ticket, not count here).
        await series_log.reassign(
            session, tenant_id=tenant, entries=split.later_resets, ticket_id=None
        )
        return changed
    return await _split(service, session, ticket, split, entries, alert)


async def _held_by_another(
    session: AsyncSession, ticket: Ticket, split: Split, now: datetime
) -> bool:
    """Whether a later ticket holds the key and the split-off ticket would stay open (two
    open tickets for one key cannot be): then the occurrences stay where they are."""
    if ticket.dedup_key is None:
        return False
    probe = split_off(ticket, split, ticket_id="", number=0, now=now)
    if any(
        replay_reset(r, probe, last_occurrence_at=probe.last_occurrence_at).closes
        for r in split.later_resets
    ):
        return False
    holder = await store.open_ticket_for_key(
        session, tenant_id=ticket.tenant_id, dedup_key=ticket.dedup_key
    )
    return holder is not None and holder.id != ticket.id


async def _split(
    service: TicketService,
    session: AsyncSession,
    ticket: Ticket,
    split: Split,
    entries: list[Logged],
    alert: RoutedAlert,
) -> list[Ticket]:
    """Move the split's occurrences from the (now closed) ``ticket`` to a new ticket (or,
    for a tenant that reopens, reopen ``ticket`` as the first of them would have)."""
    tenant = ticket.tenant_id
    settings = await store.get_settings(session, tenant_id=tenant)
    first = min(e.occurred_at for e in split.moved)
    reopens = domain.reopenable(ticket.closed_at, occurred_at=first, settings=settings)
    if reopens and ticket.dedup_key is not None:
        # Not while another ticket holds the key (it came later): that one stays.
        reopens = not await store.open_ticket_for_key(
            session, tenant_id=tenant, dedup_key=ticket.dedup_key
        )
    if reopens:
        ticket = await _reopen(service, session, ticket, split.moved[0].alert_id)
        for reset in split.later_resets:
            decision = replay_reset(reset, ticket, last_occurrence_at=ticket.last_occurrence_at)
            ticket = await _decide(service, session, ticket, decision)
            if not ticket.is_open:
                break
        return [ticket]
    now = service._clock()
    if await _held_by_another(session, ticket, split, now):
        return [ticket]
    number = await service._next_number(tenant)
    kept = without_moved(
        ticket,
        split,
        logged_triggers=sum(1 for e in entries if e.kind is domain.AlertKind.TRIGGER),
        now=now,
    )
    paths = ("occurrence_count", "first_occurrence_at", "last_occurrence_at")
    await store.save_ticket(session, kept)
    await service._history(
        session,
        kept,
        HistoryKind.UPDATED,
        Cause.ALERT,
        SYSTEM_ACTOR,
        changes=domain.diff(ticket, kept, paths),
        detail=f"alert {alert.alert_id} (a late reset)",
    )
    await service._outbox.add(
        session, ev.updated(ticket, kept, paths=list(paths), cause=Cause.ALERT, actor=SYSTEM_ACTOR)
    )
    kept = await _note(
        service, session, kept, split_note(len(split.moved), alert.occurred_at, number=number)
    )
    moved = split_off(kept, split, ticket_id=new_id(), number=number, now=now)
    staged = _staged(service, session)
    staged.new[moved.id] = moved
    await service._history(
        session,
        moved,
        HistoryKind.CREATED,
        Cause.ALERT,
        SYSTEM_ACTOR,
        detail=f"alert {split.moved[0].alert_id}",
        staged=staged,
    )
    staged.event(ev.opened(moved, alert_id=split.moved[0].alert_id, series_key=alert.series_key))
    moved, _ = await service._comment(
        session,
        moved,
        split_origin_note(kept.number, alert.occurred_at),
        Visibility.INTERNAL,
        AuthorKind.SYSTEM,
        SYSTEM_ACTOR,
        staged=staged,
    )
    replayed: list[Logged] = []
    for reset in split.later_resets:
        decision = replay_reset(reset, moved, last_occurrence_at=moved.last_occurrence_at)
        moved = await _decide(service, session, moved, decision, staged)
        replayed.append(reset)
        if not moved.is_open:
            break
    await staged.flush()
    await series_log.reassign(
        session, tenant_id=tenant, entries=[*split.moved, *replayed], ticket_id=moved.id
    )
    # In order the resets after the one that closed the new ticket found nothing.
    await series_log.reassign(
        session, tenant_id=tenant, entries=split.later_resets[len(replayed) :], ticket_id=None
    )
    return [kept, moved]
