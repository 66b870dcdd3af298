"""A late trigger's stretch (the series' triggers between the resets around it) replayed
under its rule's persistence delay, and what the delay made wait around it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import AlertKind, RoutedAlert
from services.tickets.domain.delays import counts, waiting
from services.tickets.domain.order import (
    Logged,
    Persisted,
    fresh_ticket_decision,
    logged,
    persisted,
    position,
    replay_reset,
)
from services.tickets.domain.tickets import Ticket
from services.tickets.store import series_log
from services.tickets.store import tickets as ticket_store


@dataclass(frozen=True, slots=True)
class Stretch:
    """A late trigger's stretch: the series' logged triggers between the reset before it
    (if any) and the next one, replayed with it under the rule's persistence delay."""

    before: Logged | None
    triggers: tuple[Logged, ...]
    met: Persisted | None

    def counts(self, alert: RoutedAlert, *, reopens: bool = False) -> bool:
        """Whether in order ``alert`` counted on the stretch's ticket (``reopens``: a
        ticket it reopened)."""
        return counts(self.met, alert.alert_id, reopens=reopens)

    def waited(self, alert: RoutedAlert, *, reopens: bool) -> tuple[Logged, ...]:
        """The stretch's other triggers that count with ``alert`` and did not count yet."""
        return waiting(self.met, alert.alert_id, reopens=reopens)


async def stretch_of(session: AsyncSession, alert: RoutedAlert, reset: Logged) -> Stretch:
    """The stretch of the late trigger ``alert`` before ``reset``, replayed with it."""
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
    return Stretch(before=before, triggers=tuple(triggers), met=met)


async def open_at(session: AsyncSession, stretch: Stretch, alert: RoutedAlert) -> bool:
    """Whether the series had an open ticket when ``alert`` occurred (no persistence delay
    to meet): a trigger of the stretch before it counted, or the reset before it kept one."""
    at = position(alert)
    if any(e.ticket_id is not None and e.position < at for e in stretch.triggers):
        return True
    before = stretch.before
    if before is None or before.ticket_id is None:
        return False
    ticket = await ticket_store.get_ticket(
        session, tenant_id=alert.tenant_id, ticket_id=before.ticket_id
    )
    if ticket is None:
        return False
    prior = await series_log.last_trigger_before(
        session, tenant_id=alert.tenant_id, series_key=alert.series_key, upto=before.position
    )
    last = None if prior is None else prior.occurred_at
    return not replay_reset(before, ticket, last_occurrence_at=last).closes


async def held_before(session: AsyncSession, ticket: Ticket, stretch: Stretch) -> bool:
    """Whether ``ticket`` counted triggers before the stretch (its first trigger there
    reopened it rather than opened it)."""
    if stretch.before is None:
        return False
    entries = await series_log.of_ticket(session, tenant_id=ticket.tenant_id, ticket_id=ticket.id)
    start = stretch.before.position
    return any(e.kind is AlertKind.TRIGGER and e.position < start for e in entries)


async def kept_open(
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
        between, following = await series_log.up_to_next_reset(
            session, tenant_id=tenant, series_key=series, after=cursor.position
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


async def waited_after(
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


async def waited_for_opening(
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


async def found_nothing_before(
    session: AsyncSession, tenant: str, reset: Logged, ticket: Ticket
) -> tuple[Logged, ...]:
    """The series' resets after ``reset`` that found nothing, up to the first trigger of
    the series ``ticket`` counted, oldest first: in order a late trigger kept ``ticket``
    open through ``reset``, and they acted on it too."""
    entries = await series_log.of_ticket(session, tenant_id=tenant, ticket_id=ticket.id)
    first = min(
        (
            e.position
            for e in entries
            if e.kind is AlertKind.TRIGGER and e.series_key == reset.series_key
        ),
        default=None,
    )
    found: list[Logged] = []
    cursor = reset
    while (
        following := await series_log.next_reset(
            session, tenant_id=tenant, series_key=reset.series_key, after=cursor.position
        )
    ) is not None:
        if following.ticket_id is not None or (first is not None and following.position > first):
            break
        found.append(following)
        cursor = following
    return tuple(found)
