"""A trigger that arrives after a later reset of its series, applied where it would have
landed in occurrence order (issue 13; the rules are in :mod:`services.tickets.domain.order`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import AlertKind, RoutedAlert, reopenable
from services.tickets.domain.delays import carried
from services.tickets.domain.order import (
    Logged,
    fresh_ticket_decision,
    joined_note,
    late_trigger_note,
    logged,
    position,
    replay_reset,
)
from services.tickets.domain.tickets import TenantSettings, Ticket
from services.tickets.service.changes import ChangePaths
from services.tickets.service.late_delays import (
    Stretch,
    found_nothing_before,
    held_before,
    kept_open,
    open_at,
    stretch_of,
    waited_after,
    waited_for_opening,
)
from services.tickets.service.late_paths import (
    decide,
    locked,
    new_staged,
    note,
    occur_all,
    reopen,
    reopened_once_more,
)
from services.tickets.store import alert_state as alert_store
from services.tickets.store import series_log
from services.tickets.store import tickets as ticket_store


async def late_trigger(
    service: ChangePaths, session: AsyncSession, alert: RoutedAlert, settings: TenantSettings
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
        found = await stretch_of(session, alert, reset)
        if not await open_at(session, found, alert):
            if not found.counts(alert):
                return await _dropped(session, alert)
            stretch = found  # the delay decides where it counts
    if reset.ticket_id is not None:
        ticket = await locked(session, tenant, reset.ticket_id)
        if (
            ticket is not None
            and ticket.occurrence_count == 0
            and settings.reopen_window > timedelta(0)
        ):
            # Withdrawn (late_reset_delays.py): in order it never opened, so the reset
            # found nothing; the ticket the trigger reopens is found below.
            ticket = None
        if ticket is not None:
            extra: tuple[Logged, ...] = ()
            carrier, rest = alert, extra
            if stretch is not None:
                reopens = await held_before(session, ticket, stretch)
                extra = rest = stretch.waited(alert, reopens=reopens)
                reopening = reopens and settings.reopen_window > timedelta(0)
                if reopening and not stretch.counts(alert, reopens=True):
                    # It only completed the window that reopened the ticket: that counts
                    # the trigger that met the delay and the later ones, not this one.
                    if not extra:
                        return await _dropped(session, alert)
                    carrier, rest = carried(alert, extra)
            if settings.reopen_window > timedelta(0) and await _fills_a_gap(
                session, ticket, alert, reset
            ):
                ticket = reopened_once_more(ticket)
            after = await occur_all(service, session, ticket, carrier, rest, settings)
            after = await note(service, session, after, late_trigger_note(alert, reset))
            own = after.id if carrier is alert else None
            await series_log.add(session, tenant_id=tenant, entry=logged(alert, own))
            await series_log.reassign(session, tenant_id=tenant, entries=extra, ticket_id=after.id)
            return [after]
    opens = () if stretch is None else stretch.waited(alert, reopens=False)
    last = max([alert.occurred_at, *(e.occurred_at for e in opens)])
    decision = fresh_ticket_decision(reset, alert, last_occurrence_at=last)
    current = await ticket_store.open_ticket_for_key(
        session, tenant_id=tenant, dedup_key=alert.dedup_key
    )
    counted: tuple[Logged, ...] = opens
    reopened_without = False
    if current is not None and not decision.closes:
        # In order this trigger's ticket stayed open and took the later triggers.
        if stretch is not None:
            counted = (*opens, *await waited_after(session, tenant, reset, current))
        after = await occur_all(service, session, current, alert, counted, settings)
        after = await note(service, session, after, late_trigger_note(alert, reset))
        decision = replay_reset(reset, after, last_occurrence_at=last)
        ticket = await decide(service, session, after, decision)
        if stretch is not None:
            ticket, through = await _keep_through(service, session, alert, reset, ticket, counted)
            counted = (*counted, *through)
    elif current is None and (
        reopened := await _reopen_before(service, session, alert, reset, settings, stretch)
    ):
        ticket = reopened
        counted = () if stretch is None else stretch.waited(alert, reopens=True)
        reopened_without = stretch is not None and not stretch.counts(alert, reopens=True)
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
            counted, kept = await kept_open(session, alert, reset, opens)
        staged = new_staged(service, session)
        times = (alert.occurred_at, *(e.occurred_at for e in counted))
        opened = await service._open_from_alert(
            session, alert, times, staged, last_occurrence_at=max(times)
        )
        ticket = await decide(service, session, opened, decision, staged)
        for later in kept:
            seen = [e.occurred_at for e in counted if e.position < later.position]
            replayed = replay_reset(
                later, ticket, last_occurrence_at=max([alert.occurred_at, *seen])
            )
            ticket = await decide(service, session, ticket, replayed, staged)
        await staged.flush()
        if stays and ticket.is_open:
            await alert_store.clear_triggers(session, tenant_id=tenant, dedup_key=alert.dedup_key)
        counted = (*counted, *kept)
    await series_log.add(session, tenant_id=tenant, entry=logged(alert, ticket.id))
    await series_log.reassign(
        session, tenant_id=tenant, entries=[reset, *counted], ticket_id=ticket.id
    )
    if reopened_without:
        entry = logged(alert, None)  # see _reopen_before
        await series_log.reassign(session, tenant_id=tenant, entries=[entry], ticket_id=None)
    return [ticket]


async def _keep_through(
    service: ChangePaths,
    session: AsyncSession,
    alert: RoutedAlert,
    reset: Logged,
    ticket: Ticket,
    counted: tuple[Logged, ...],
) -> tuple[Ticket, tuple[Logged, ...]]:
    """The later resets that found nothing before ``ticket`` (kept open through ``reset``
    by the late trigger, with ``counted``) counted the series' next trigger, replayed on
    it up to one that would close it: in order they acted on it (and a trigger older than
    one of them counts there, without a delay); ``ticket`` with their comments."""
    kept: list[Logged] = []
    for later in await found_nothing_before(session, alert.tenant_id, reset, ticket):
        seen = [e.occurred_at for e in counted if e.position < later.position]
        last = max([alert.occurred_at, *seen])
        replayed = replay_reset(later, ticket, last_occurrence_at=last)
        if replayed.closes:
            break
        ticket = await decide(service, session, ticket, replayed)
        kept.append(later)
    return ticket, tuple(kept)


async def _dropped(session: AsyncSession, alert: RoutedAlert) -> list[Ticket]:
    """Log a late trigger that in order would have counted nowhere."""
    await series_log.add(session, tenant_id=alert.tenant_id, entry=logged(alert, None))
    return []


async def _reopen_before(
    service: ChangePaths,
    session: AsyncSession,
    alert: RoutedAlert,
    reset: Logged,
    settings: TenantSettings,
    stretch: Stretch | None,
) -> Ticket | None:
    """For a tenant that reopens: the ticket the reset before the late trigger closed,
    reopened with the trigger counted and ``reset`` (the next one) decided on it; None when
    in order the trigger would not have reopened it. Under a persistence delay the trigger
    that met it reopens, with the stretch's later triggers."""
    if settings.reopen_window <= timedelta(0):
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
    closed = await locked(session, alert.tenant_id, before.ticket_id)
    if closed is None or closed.is_open:
        return None
    extra = () if stretch is None else stretch.waited(alert, reopens=True)
    reopening = alert.occurred_at
    if stretch is not None and stretch.met is not None:
        reopening = stretch.met.window[-1].occurred_at
    if not reopenable(closed.closed_at, occurred_at=reopening, settings=settings):
        return None
    carrier, rest = alert, extra
    if stretch is not None and not stretch.counts(alert, reopens=True):
        # It only completed the window: a reopen counts the trigger that met the delay and
        # the later ones, not this one (logged at no ticket by the caller).
        carrier, rest = carried(alert, extra)
    ticket = await reopen(service, session, closed, carrier.alert_id)
    ticket = await occur_all(service, session, ticket, carrier, rest, settings)
    ticket = await note(service, session, ticket, late_trigger_note(alert, reset))
    last = max([alert.occurred_at, *(e.occurred_at for e in extra)])
    decision = replay_reset(reset, ticket, last_occurrence_at=last)
    return await decide(service, session, ticket, decision)


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
    service: ChangePaths,
    session: AsyncSession,
    alert: RoutedAlert,
    reset: Logged,
    settings: TenantSettings,
    stretch: Stretch | None,
) -> Ticket | None:
    """For a tenant that reopens: the ticket of the series' next trigger after ``reset``,
    with the late trigger counted on it. In order the trigger would have opened (or
    reopened) it, ``reset`` closed it and that trigger reopened it; None when it would not
    have. Under a persistence delay the next counted trigger is taken; if its ticket opened
    there, the triggers that waited for it no longer count (a reopen counts its own only)."""
    if settings.reopen_window <= timedelta(0):
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
    if not reopenable(service._clock(), occurred_at=after.occurred_at, settings=settings):
        return None
    ticket = await locked(session, tenant, after.ticket_id)
    if ticket is None:
        return None
    extra: tuple[Logged, ...] = ()
    waited: tuple[Logged, ...] = ()
    carrier, rest = alert, extra
    if stretch is not None:
        # The ticket held triggers before the stretch (an earlier reset closed it): the
        # stretch reopened it.
        reopens = (
            stretch.before is not None and stretch.before.ticket_id == ticket.id
        ) or await held_before(session, ticket, stretch)
        extra = rest = stretch.waited(alert, reopens=reopens)
        if reopens and not stretch.counts(alert, reopens=True):
            if not extra:
                return None
            # It only completed the window: the trigger that met the delay reopened it
            # (this one is logged at no ticket; the caller's entry then adds nothing).
            carrier, rest = carried(alert, extra)
            await series_log.add(session, tenant_id=tenant, entry=logged(alert, None))
        waited = await waited_for_opening(session, alert, after, ticket)
        if waited:
            ticket = replace(ticket, occurrence_count=ticket.occurrence_count - len(waited))
            await series_log.reassign(session, tenant_id=tenant, entries=waited, ticket_id=None)
    # The trigger's segment (between two resets) was empty: one more close and reopen of
    # the series' ticket, whichever segments it already holds.
    ticket = await occur_all(service, session, reopened_once_more(ticket), carrier, rest, settings)
    ticket = await note(service, session, ticket, joined_note(alert, reset))
    await series_log.reassign(session, tenant_id=tenant, entries=extra, ticket_id=ticket.id)
    return ticket
