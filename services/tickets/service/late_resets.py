"""A reset that arrives after later triggers or resets of its series: their ticket is
split as if the reset had arrived in time (issue 13)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import events as ev
from services.tickets.domain.alerts import AlertKind, RoutedAlert, reopenable, reset_origin
from services.tickets.domain.order import (
    Logged,
    Position,
    Split,
    closed_again_later,
    logged,
    position,
    replay_reset,
    split_at,
    split_note,
    split_off,
    split_origin_note,
    without_moved,
)
from services.tickets.domain.tickets import (
    SYSTEM_ACTOR,
    AuthorKind,
    Cause,
    HistoryKind,
    Ticket,
    Visibility,
    diff,
)
from services.tickets.service.changes import ChangePaths
from services.tickets.service.late_paths import decide, locked, new_staged, note, reopen
from services.tickets.service.late_reset_delays import delayed_split, later_ticket, straddled
from services.tickets.store import alert_state as alert_store
from services.tickets.store import series_log
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store
from triage.runtime import new_id


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
    service: ChangePaths, session: AsyncSession, alert: RoutedAlert
) -> list[Ticket]:
    """A reset older than triggers of its series already applied.

    In order it would have acted on the ticket of the series' last trigger before it. If
    that ticket also holds the series' later triggers and the reset closes it, they move
    to a new ticket (the old one keeps its earlier occurrences and is closed as of the
    reset), and the later resets that acted on the old ticket are replayed on the new one.
    """
    tenant, series = alert.tenant_id, alert.series_key
    await ticket_store.lock(session, tenant_id=tenant, key=alert.dedup_key)
    await alert_store.put_tombstone(
        session,
        tenant_id=tenant,
        series_key=series,
        reset_at=alert.occurred_at,
        reset_sequence=alert.sequence,
        alert_id=alert.alert_id,
    )
    # The triggers after it that wait for a persistence delay wait on in order.
    await alert_store.clear_triggers(
        session, tenant_id=tenant, dedup_key=alert.dedup_key, before=alert.occurred_at
    )
    origin = reset_origin(alert.labels)
    at = position(alert)
    prior = await series_log.last_trigger_before(
        session, tenant_id=tenant, series_key=series, upto=at
    )
    ticket = None
    if prior is not None and prior.ticket_id is not None:
        ticket = await locked(session, tenant, prior.ticket_id)
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
    if ticket is None and alert.actions.persistence_count > 1:
        # The window that met the delay after it may hold triggers from before it.
        later = await later_ticket(session, alert)
        if later is not None and (regrouped := await straddled(service, session, alert, later)):
            return regrouped
    if ticket is None:
        # In order nothing of this series was open yet when the reset came.
        await series_log.add(session, tenant_id=tenant, entry=logged(alert, None, origin))
        return []
    if ticket.flapping_since is not None and (
        (await settings_store.get_settings(session, tenant_id=tenant)).damping.enabled
    ):
        # Its series is flapping: the ticket stays whole and open until it is quiet.
        await series_log.add(session, tenant_id=tenant, entry=logged(alert, ticket.id, origin))
        return []
    if alert.actions.persistence_count > 1 and (
        regrouped := await straddled(service, session, alert, ticket)
    ):
        return regrouped
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
        ticket = await decide(service, session, ticket, decision)
        changed.append(ticket)
    if not decision.closes:
        return changed
    settings = await settings_store.get_settings(session, tenant_id=tenant)
    split, waits = await delayed_split(service, session, alert, split, settings)
    if waits:
        # In order they wait for the delay after this reset: off the ticket.
        await series_log.reassign(session, tenant_id=tenant, entries=waits, ticket_id=None)
        if split.moved and closed_again_later(split, ticket):
            # The rest came after a later reset that closed it, and reopened it: as in
            # order; only the triggers that wait leave it.
            stay = replace(split, kept=(*split.kept, *split.moved), moved=waits)
            return [await _shed(service, session, ticket, stay, entries, alert)]
        if not split.moved:
            ticket = await _shed(
                service, session, ticket, replace(split, moved=waits), entries, alert
            )
            changed = [ticket]
    if not split.moved:
        # Closed by a later reset instead of this one: the same ticket, but in order that
        # reset found nothing (a trigger between them must open a ticket, not count here).
        await series_log.reassign(
            session, tenant_id=tenant, entries=split.later_resets, ticket_id=None
        )
        return changed
    return await _split(service, session, ticket, split, entries, alert, waits)


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
    holder = await ticket_store.open_ticket_for_key(
        session, tenant_id=ticket.tenant_id, dedup_key=ticket.dedup_key
    )
    return holder is not None and holder.id != ticket.id


async def _shed(
    service: ChangePaths,
    session: AsyncSession,
    ticket: Ticket,
    split: Split,
    entries: list[Logged],
    alert: RoutedAlert,
    *,
    already: int = 0,
) -> Ticket:
    """``ticket`` saved without the split's moved occurrences (``already`` of them were
    taken off its count before)."""
    kept = without_moved(
        replace(ticket, occurrence_count=ticket.occurrence_count + already),
        split,
        logged_triggers=sum(1 for e in entries if e.kind is AlertKind.TRIGGER),
        now=service._clock(),
    )
    kept = replace(kept, occurrence_count=kept.occurrence_count - already)
    paths = ("occurrence_count", "first_occurrence_at", "last_occurrence_at")
    await ticket_store.save_ticket(session, kept)
    await service._history(
        session,
        kept,
        HistoryKind.UPDATED,
        Cause.ALERT,
        SYSTEM_ACTOR,
        changes=diff(ticket, kept, paths),
        detail=f"alert {alert.alert_id} (a late reset)",
    )
    await service._outbox.add(
        session, ev.updated(ticket, kept, paths=list(paths), cause=Cause.ALERT, actor=SYSTEM_ACTOR)
    )
    return kept


async def _split(
    service: ChangePaths,
    session: AsyncSession,
    ticket: Ticket,
    split: Split,
    entries: list[Logged],
    alert: RoutedAlert,
    waits: tuple[Logged, ...] = (),
) -> list[Ticket]:
    """Move the split's occurrences from the (now closed) ``ticket`` to a new ticket (or,
    for a tenant that reopens, reopen ``ticket`` as the first of them would have);
    ``waits``: triggers after the reset that leave it for no ticket (a persistence delay)."""
    tenant = ticket.tenant_id
    settings = await settings_store.get_settings(session, tenant_id=tenant)
    if waits:
        ticket = replace(ticket, occurrence_count=ticket.occurrence_count - len(waits))
    first = min(e.occurred_at for e in split.moved)
    reopens = reopenable(ticket.closed_at, occurred_at=first, settings=settings)
    if reopens and ticket.dedup_key is not None:
        # Not while another ticket holds the key (it came later): that one stays.
        reopens = not await ticket_store.open_ticket_for_key(
            session, tenant_id=tenant, dedup_key=ticket.dedup_key
        )
    if reopens:
        ticket = await reopen(service, session, ticket, split.moved[0].alert_id)
        for reset in split.later_resets:
            decision = replay_reset(reset, ticket, last_occurrence_at=ticket.last_occurrence_at)
            ticket = await decide(service, session, ticket, decision)
            if not ticket.is_open:
                break
        return [ticket]
    now = service._clock()
    if await _held_by_another(session, ticket, split, now):
        return [ticket]
    number = await service._next_number(tenant)
    kept = await _shed(service, session, ticket, split, entries, alert, already=len(waits))
    kept = await note(
        service, session, kept, split_note(len(split.moved), alert.occurred_at, number=number)
    )
    moved = split_off(kept, split, ticket_id=new_id(), number=number, now=now)
    staged = new_staged(service, session)
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
        moved = await decide(service, session, moved, decision, staged)
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
