"""A trigger of the series' current stretch (after its last reset) that arrives after a
newer trigger of that stretch, under its rule's persistence delay (issue 13).

The in-order path looks back from the trigger only (the trigger log); an older trigger
that arrives late can complete a window that the newer ones already waited in, or fall
out of the window that opened the stretch's ticket. The stretch is replayed in occurrence
order instead, as :func:`services.tickets.service.late_delays.stretch_of` does for a
trigger older than a reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import RoutedAlert, reopenable
from services.tickets.domain.delays import EarlyVerdict, carried, early_decision
from services.tickets.domain.order import (
    Logged,
    Persisted,
    logged,
    persisted,
    position,
    replay_reset,
)
from services.tickets.domain.tickets import TenantSettings, Ticket
from services.tickets.service.changes import ChangePaths
from services.tickets.service.late_delays import Stretch, held_before
from services.tickets.service.late_paths import new_staged, occur_all, reopen
from services.tickets.store import alert_state as alert_store
from services.tickets.store import series_log
from services.tickets.store import tickets as ticket_store


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`early_trigger` did: the key's open ticket afterwards."""

    ticket: Ticket | None


async def early_trigger(
    service: ChangePaths,
    session: AsyncSession,
    alert: RoutedAlert,
    current: Ticket | None,
    settings: TenantSettings,
) -> Applied | None:
    """Apply a trigger of the current stretch older than a trigger of it already logged,
    under a persistence delay; None when the in-order path gives the same (it is the
    stretch's newest trigger, or the key's open ticket was held before the stretch).

    It counts where the delay replayed in order counts it, with the stretch's triggers
    that waited for it; it waits (trigger log) when the delay is not met; it is dropped
    when in order it was forgotten before the delay was met.
    """
    tenant, series = alert.tenant_id, alert.series_key
    at = position(alert)
    before = await series_log.last_reset_before(
        session, tenant_id=tenant, series_key=series, before=at
    )
    triggers = await series_log.triggers_between(
        session,
        tenant_id=tenant,
        series_key=series,
        after=None if before is None else before.position,
        before=None,
    )
    if not any(e.position > at for e in triggers):
        return None
    if current is not None and before is not None and before.ticket_id == current.id:
        prior = await series_log.last_trigger_before(
            session, tenant_id=tenant, series_key=series, upto=before.position
        )
        last = None if prior is None else prior.occurred_at
        if not replay_reset(before, current, last_occurrence_at=last).closes:
            return None  # the reset before it kept the ticket open: it counts, as in order
    holders = {e.ticket_id for e in triggers if e.ticket_id is not None}
    if current is not None and current.id not in holders:
        return None  # held before the stretch: it counts, as in order
    if holders - ({current.id} if current is not None else set()):
        return None  # a ticket of the stretch closed since (by a person): in-order rules
    actions = alert.actions
    entry = logged(alert, None)
    met = persisted(
        [*triggers, entry], count=actions.persistence_count, within=actions.persistence_within
    )
    stretch = Stretch(before=before, triggers=tuple(triggers), met=met)
    if current is not None:
        reopens = await held_before(session, current, stretch)
    else:
        reopens = await _reopens(session, alert, met, settings) is not None
    decision = early_decision(met, alert.alert_id, reopens=reopens)
    if decision.verdict is EarlyVerdict.CARRIED:
        # It only completed a window that reopened a ticket: the trigger that met the
        # delay reopened it (still to count, when the ticket is open already).
        previous = current or await _reopens(session, alert, met, settings)
        if previous is not None:
            carrier, rest = carried(alert, decision.extra)
            ticket = previous
            if current is None:
                ticket = await reopen(service, session, previous, carrier.alert_id)
            ticket = await occur_all(service, session, ticket, carrier, rest, settings)
            await alert_store.clear_triggers(session, tenant_id=tenant, dedup_key=alert.dedup_key)
            await series_log.add(session, tenant_id=tenant, entry=entry)
            await series_log.reassign(
                session, tenant_id=tenant, entries=decision.extra, ticket_id=ticket.id
            )
            return Applied(ticket)
    if decision.verdict is not EarlyVerdict.COUNTS:
        if decision.verdict is EarlyVerdict.WAITS:
            await alert_store.log_trigger(
                session,
                tenant_id=tenant,
                dedup_key=alert.dedup_key,
                alert_id=alert.alert_id,
                occurred_at=alert.occurred_at,
            )
        await series_log.add(session, tenant_id=tenant, entry=entry)
        return Applied(current)
    extra = decision.extra
    if current is not None:
        ticket = await occur_all(service, session, current, alert, extra, settings)
    elif (previous := await _reopens(session, alert, met, settings)) is not None:
        ticket = await reopen(service, session, previous, alert.alert_id)
        ticket = await occur_all(service, session, ticket, alert, extra, settings)
    else:
        staged = new_staged(service, session)
        times = (alert.occurred_at, *(e.occurred_at for e in extra))
        ticket = await service._open_from_alert(
            session, alert, times, staged, last_occurrence_at=max(times)
        )
        await staged.flush()
    await alert_store.clear_triggers(session, tenant_id=tenant, dedup_key=alert.dedup_key)
    await series_log.add(session, tenant_id=tenant, entry=logged(alert, ticket.id))
    await series_log.reassign(session, tenant_id=tenant, entries=extra, ticket_id=ticket.id)
    return Applied(ticket)


async def _reopens(
    session: AsyncSession, alert: RoutedAlert, met: Persisted | None, settings: TenantSettings
) -> Ticket | None:
    """The key's last closed ticket that the trigger meeting the delay reopens in order."""
    if met is None or settings.reopen_window <= timedelta(0):
        return None
    previous = await ticket_store.last_closed_for_key(
        session, tenant_id=alert.tenant_id, dedup_key=alert.dedup_key
    )
    if previous is None or previous.occurrence_count == 0:
        return None  # withdrawn (see late_reset_delays): in order it never opened
    meets: Logged = met.window[-1]
    if not reopenable(
        previous.closed_at,
        occurred_at=meets.occurred_at,
        settings=settings,
        same_series=alert.series_key in previous.linked_series_keys,
    ):
        return None
    return previous
