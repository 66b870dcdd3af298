"""Routed alerts, one at a time or a consumer batch at once: a trigger opens, counts or
waits; a reset comments and may close. Late ones go to the late paths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import (
    AlertKind,
    RoutedAlert,
    TriggerAction,
    decide_reset,
    decide_trigger,
    is_superseded,
    persistence_met,
    reopenable,
    reset_origin,
)
from services.tickets.domain.order import Position, logged, position
from services.tickets.domain.tickets import (
    SYSTEM_ACTOR,
    AuthorKind,
    Cause,
    Status,
    TenantSettings,
    Ticket,
    Visibility,
)
from services.tickets.service.damping import DampingUseCases
from services.tickets.service.incidents import IncidentPaths
from services.tickets.service.late_resets import is_late, late_reset, reset_is_late
from services.tickets.service.late_triggers import late_trigger
from services.tickets.service.late_waits import early_trigger
from services.tickets.service.staged import SeriesTickets, Staged
from services.tickets.store import alert_state as alert_store
from services.tickets.store import batches as batch_store
from services.tickets.store import series_log
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store


def _superseded(
    alert: RoutedAlert, stones: Mapping[tuple[str, str], alert_store.Tombstone]
) -> bool:
    stone = stones.get((alert.tenant_id, alert.series_key))
    return stone is not None and is_superseded(
        occurred_at=alert.occurred_at,
        sequence=alert.sequence,
        reset_at=stone.reset_at,
        reset_sequence=stone.reset_sequence,
    )


def _opens_fresh(
    alert: RoutedAlert,
    settings: TenantSettings,
    stones: Mapping[tuple[str, str], alert_store.Tombstone],
) -> bool:
    """Whether a trigger whose key has no open ticket certainly opens a new one: no
    persistence delay, no reopening (no ``reopen_within``, and under damping a series
    that was never reset)."""
    if alert.actions.persistence_count > 1 or settings.reopen_within > timedelta(0):
        return False
    # Damping reopens a ticket its series' reset closed: a series never reset has none
    # (a ticket a person closed within the window is the one-alert path's to reopen).
    return not settings.damping.enabled or (alert.tenant_id, alert.series_key) not in stones


def _predicted_opens(
    alerts: Sequence[RoutedAlert],
    open_for: Mapping[str, Ticket | None],
    stones: Mapping[tuple[str, str], alert_store.Tombstone],
    settings: Mapping[str, TenantSettings],
) -> dict[str, int]:
    """How many tickets each tenant's alerts of a batch certainly open without the one-alert
    path, counting only the first alert of each key with no open ticket, when it is a
    trigger that no reset applied before it (in batch order) can affect: none of its key,
    none of its series (a reset can only close tickets, so other keys can open more tickets
    than counted, never fewer; a reset applied after the trigger cannot change its open)."""
    unopened = {k for k, t in open_for.items() if t is None}
    reset_before: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    for a in alerts:
        series = (a.tenant_id, a.series_key)
        if a.kind is AlertKind.RESET:
            unopened.discard(a.dedup_key)
            reset_before.add(series)
            continue
        if a.dedup_key not in unopened:
            continue
        unopened.discard(a.dedup_key)
        if series in reset_before:
            continue  # a reset of its series applied first may supersede it
        if _superseded(a, stones):
            continue  # a late trigger may open its key's ticket (closed or not)
        if _opens_fresh(a, settings[a.tenant_id], stones):
            counts[a.tenant_id] = counts.get(a.tenant_id, 0) + 1
    return counts


def _advance(
    latest: dict[tuple[str, str, AlertKind], Position],
    watched: set[tuple[str, str]],
    alert: RoutedAlert,
) -> None:
    """Keep ``latest`` (the last trigger's and reset's positions of each watched series)
    current."""
    if (alert.tenant_id, alert.series_key) in watched:
        key = (alert.tenant_id, alert.series_key, alert.kind)
        latest[key] = max(latest.get(key, position(alert)), position(alert))


def _early(latest: Mapping[tuple[str, str, AlertKind], Position], alert: RoutedAlert) -> bool:
    """Whether a trigger under a persistence delay is older than a trigger of its series
    already applied (the one-alert path replays its stretch)."""
    if alert.actions.persistence_count <= 1:
        return False
    found = latest.get((alert.tenant_id, alert.series_key, AlertKind.TRIGGER))
    return found is not None and found > position(alert)


def _track(
    changed: Sequence[Ticket], open_for: dict[str, Ticket | None], by_series: SeriesTickets
) -> None:
    """Take the tickets a late event changed (in order) into the batch's views."""
    for ticket in changed:
        by_series.note(ticket)
        key = ticket.dedup_key
        if key is None or key not in open_for:
            continue
        if ticket.is_open:
            open_for[key] = ticket
        elif (held := open_for[key]) is not None and held.id == ticket.id:
            open_for[key] = None


class AlertUseCases(IncidentPaths, DampingUseCases):
    """The alert consumer's use cases (inside its batch transaction)."""

    async def on_alert(self, session: AsyncSession, alert: RoutedAlert) -> None:
        """Apply one routed alert: a trigger opens or counts, a reset comments and may close."""
        if alert.kind is AlertKind.TRIGGER:
            await self._on_trigger(session, alert)
        elif alert.kind is AlertKind.RESET:
            if await reset_is_late(session, alert):
                await late_reset(self, session, alert)
            else:
                await self._on_reset(session, alert)

    async def on_alert_batch(
        self,
        session: AsyncSession,
        alerts: Sequence[tuple[RoutedAlert, AbstractContextManager[Any]]],
    ) -> None:
        """Apply a batch's routed alerts, in order, each as :meth:`on_alert` would.

        The alerts' tenants are bound and the alerts sorted by dedup key (each series' of a
        key in occurrence order: :func:`services.tickets.events.in_occurrence_order`). The
        keys are locked up front in that order; the tenants' settings, the keys' open
        tickets and the series' tombstones are read once. A trigger that adds
        an occurrence to an open ticket (the common case) or opens one is applied in memory
        and its writes are staged: each ticket is written once, history, comments and events
        in one statement each, ticket numbers allocated together. A reset stages its comment
        and close; when its key has no open ticket, the open tickets of such resets' series
        were read up front too. Anything else (reopening, persistence) takes the one-alert
        path after the staged writes are flushed. So does an alert that arrived out of
        occurrence order (a trigger older than a reset of its series, a reset older than a
        trigger or reset of its series): the late paths (:mod:`.late_triggers`,
        :mod:`.late_resets`) apply it as if it had arrived in order. Each alert's work runs
        inside its ``scope`` (its trace span); its staged events carry that trace context.
        """
        # Correlated alerts, members of open incidents and storms go to their incidents.
        alerts = await self._incident_alerts(session, alerts)
        relevant = [
            a
            for a, _ in alerts
            if a.kind is AlertKind.RESET or (a.kind is AlertKind.TRIGGER and a.actions.wants_ticket)
        ]
        if not relevant:
            for _, scope in alerts:
                with scope:
                    pass
            return
        keys = sorted({(a.tenant_id, a.dedup_key) for a in relevant}, key=lambda k: k[1])
        series = list(
            dict.fromkeys(
                (a.tenant_id, a.series_key) for a in relevant if a.kind is AlertKind.TRIGGER
            )
        )
        state = await batch_store.lock_and_read_batch(session, keys, series)
        settings, stones, found = state.settings, state.tombstones, state.open_tickets
        # The key's open ticket as this transaction has it (staged writes included).
        open_for: dict[str, Ticket | None] = {k: found.get(k) for _, k in keys}
        # A reset whose key has no open ticket looks for its series' ticket instead.
        asked = {
            (a.tenant_id, a.series_key)
            for a in relevant
            if a.kind is AlertKind.RESET and open_for[a.dedup_key] is None
        }
        by_series = SeriesTickets(
            asked, await batch_store.open_tickets_for_series_many(session, asked)
        )
        # A reset older than a trigger or reset of its series already applied takes the
        # late path.
        reset_series = {(a.tenant_id, a.series_key) for a in relevant if a.kind is AlertKind.RESET}
        # So is a trigger under a persistence delay older than one of its series applied.
        watched = reset_series | {
            (a.tenant_id, a.series_key)
            for a in relevant
            if a.kind is AlertKind.TRIGGER and a.actions.persistence_count > 1
        }
        latest = await series_log.latest(session, watched)
        staged = Staged(session, self._outbox)
        # A trigger of a key with no open ticket opens one right here when nothing else can
        # apply: no persistence delay, no reopening (the tenant never reopens).
        counts = _predicted_opens(relevant, open_for, stones, settings)
        if counts:
            staged.numbers = await self._next_numbers(counts)
        for alert, scope in alerts:
            with scope:
                if alert.kind is AlertKind.TRIGGER:
                    if not alert.actions.wants_ticket:
                        continue
                    early = _early(latest, alert)
                    _advance(latest, watched, alert)
                    key, tenant_settings = alert.dedup_key, settings[alert.tenant_id]
                    if _superseded(alert, stones):
                        await staged.flush()
                        changed = await late_trigger(self, session, alert, tenant_settings)
                        _track(changed, open_for, by_series)
                        continue
                    current = open_for.get(key)
                    if current is not None and not early:
                        occurred = await self._occur(
                            session, current, alert, tenant_settings, staged
                        )
                        open_for[key] = occurred
                        staged.log.append((alert.tenant_id, logged(alert, occurred.id)))
                    elif key in open_for and _opens_fresh(alert, tenant_settings, stones):
                        opened = await self._open_from_alert(
                            session, alert, (alert.occurred_at,), staged
                        )
                        open_for[key] = opened
                        staged.cleared[(alert.tenant_id, key)] = None
                        staged.log.append((alert.tenant_id, logged(alert, opened.id)))
                    else:
                        await staged.flush()
                        open_for[key] = await self._on_trigger(session, alert)
                    by_series.note(open_for[key])
                elif alert.kind is AlertKind.RESET:
                    late = is_late(latest, alert)
                    _advance(latest, watched, alert)
                    if late:
                        await staged.flush()
                        _track(await late_reset(self, session, alert), open_for, by_series)
                        touched = None
                    else:
                        touched = await self._on_reset(session, alert, staged, open_for, by_series)
                    by_series.note(touched)
                    stone = stones.get((alert.tenant_id, alert.series_key))
                    if stone is None or (alert.occurred_at, alert.sequence) > (
                        stone.reset_at,
                        stone.reset_sequence,
                    ):
                        stones[(alert.tenant_id, alert.series_key)] = alert_store.Tombstone(
                            alert.occurred_at, alert.sequence
                        )
                    if touched is not None and touched.dedup_key in open_for:
                        open_for[touched.dedup_key] = touched if touched.is_open else None
        if any(staged.numbers.values()):
            raise RuntimeError("ticket numbers allocated for the batch were left unused")
        await staged.flush()

    async def _on_trigger(self, session: AsyncSession, alert: RoutedAlert) -> Ticket | None:
        """Apply a trigger; returns the key's open ticket afterwards (None: none is open)."""
        actions = alert.actions
        if not actions.wants_ticket:
            return None
        tenant, key = alert.tenant_id, alert.dedup_key
        await ticket_store.lock(session, tenant_id=tenant, key=key)
        stone = await alert_store.get_tombstone(
            session, tenant_id=tenant, series_key=alert.series_key
        )
        superseded = stone is not None and is_superseded(
            occurred_at=alert.occurred_at,
            sequence=alert.sequence,
            reset_at=stone.reset_at,
            reset_sequence=stone.reset_sequence,
        )
        settings = await settings_store.get_settings(session, tenant_id=tenant)
        if superseded:
            await late_trigger(self, session, alert, settings)
            return await ticket_store.open_ticket_for_key(session, tenant_id=tenant, dedup_key=key)
        current = await ticket_store.open_ticket_for_key(session, tenant_id=tenant, dedup_key=key)
        if actions.persistence_count > 1 and (
            early := await early_trigger(self, session, alert, current, settings)
        ):
            return early.ticket
        times: Sequence[datetime] = (alert.occurred_at,)
        waiting: list[tuple[datetime, str]] = []
        persistence_ok = True
        if current is None and not superseded and actions.persistence_count > 1:
            since = alert.occurred_at - actions.persistence_within
            await alert_store.log_trigger(
                session,
                tenant_id=tenant,
                dedup_key=key,
                alert_id=alert.alert_id,
                occurred_at=alert.occurred_at,
            )
            waiting = [
                (t, alert_id)
                for t, alert_id in await alert_store.trigger_times(
                    session, tenant_id=tenant, dedup_key=key, since=since
                )
                if t <= alert.occurred_at
            ]
            times = [t for t, _ in waiting]
            persistence_ok = persistence_met(
                times,
                now=alert.occurred_at,
                count=actions.persistence_count,
                within=actions.persistence_within,
            )
            await alert_store.clear_triggers(session, tenant_id=tenant, dedup_key=key, before=since)
        previous = None
        if current is None and settings.reopen_window > timedelta(0):
            previous = await ticket_store.last_closed_for_key(
                session, tenant_id=tenant, dedup_key=key
            )
            if previous is not None and previous.occurrence_count == 0:
                previous = None  # withdrawn (late_reset_delays.py): in order it never opened
        action = decide_trigger(
            wants_ticket=True,
            superseded=superseded,
            has_open_ticket=current is not None,
            persistence_ok=persistence_ok,
            reopenable=previous is not None
            and reopenable(
                previous.closed_at,
                occurred_at=alert.occurred_at,
                settings=settings,
                same_series=alert.series_key in previous.linked_series_keys,
            ),
        )
        result = await self._apply_trigger(
            session, alert, action, (current, previous), times, settings
        )
        counted = None if action is TriggerAction.WAIT else result
        entry = logged(alert, None if counted is None else counted.id)
        await series_log.add(session, tenant_id=tenant, entry=entry)
        if action is TriggerAction.OPEN and counted is not None and len(waiting) > 1:
            # The triggers that waited for the delay count on the ticket they opened.
            await series_log.reassign_alerts(
                session,
                tenant_id=tenant,
                series_key=alert.series_key,
                alert_ids=[a for _, a in waiting if a != alert.alert_id],
                ticket_id=counted.id,
            )
        return result

    async def _apply_trigger(
        self,
        session: AsyncSession,
        alert: RoutedAlert,
        action: TriggerAction,
        tickets: tuple[Ticket | None, Ticket | None],
        times: Sequence[datetime],
        settings: TenantSettings,
    ) -> Ticket | None:
        """Carry out ``action``; ``tickets`` are the key's open and last closed tickets."""
        tenant, key = alert.tenant_id, alert.dedup_key
        current, previous = tickets
        if action is TriggerAction.OCCUR and current is not None:
            return await self._occur(session, current, alert, settings)
        if action is TriggerAction.REOPEN and previous is not None:
            reopened = await self._reopen(
                session,
                previous,
                reason=f"The alert triggered again (alert {alert.alert_id}).",
                cause=Cause.SYSTEM,
                actor=SYSTEM_ACTOR,
                author_kind=AuthorKind.SYSTEM,
                alert_id=alert.alert_id,
            )
            return await self._occur(session, reopened, alert, settings)
        if action is TriggerAction.OPEN:
            opened = await self._open_from_alert(session, alert, times)
            await alert_store.clear_triggers(session, tenant_id=tenant, dedup_key=key)
            return opened
        return current

    async def _on_reset(
        self,
        session: AsyncSession,
        alert: RoutedAlert,
        staged: Staged | None = None,
        open_for: Mapping[str, Ticket | None] | None = None,
        by_series: SeriesTickets | None = None,
    ) -> Ticket | None:
        """Apply a reset; returns the ticket it commented on (and maybe closed), if any.

        In a batch (``staged``) the key is already locked, ``open_for`` has the open
        tickets of the batch's keys as the batch left them and ``by_series`` those of the
        series of resets whose key had none.
        """
        tenant, key = alert.tenant_id, alert.dedup_key
        reset = alert_store.Reset(
            tenant, alert.series_key, alert.occurred_at, alert.sequence, alert.alert_id
        )
        if staged is None:
            await ticket_store.lock(session, tenant_id=tenant, key=key)
            await alert_store.put_tombstones(session, [reset])
            await alert_store.clear_triggers(session, tenant_id=tenant, dedup_key=key)
        else:
            # Every read of the tombstones after this one follows a flush.
            staged.tombstone(reset)
            staged.cleared[(tenant, key)] = None
        if staged is not None and open_for is not None and key in open_for:
            ticket = open_for[key]
        else:
            if staged is not None:
                await staged.flush()
            ticket = await ticket_store.open_ticket_for_key(
                session, tenant_id=tenant, dedup_key=key
            )
        if ticket is None:
            # Some resets name only their series (a PagerDuty-style resolve carries no
            # device or payload), so their (device, condition) key differs from the trigger's.
            known = False
            if by_series is not None:
                known, ticket = by_series.find(tenant, alert.series_key)
            if not known:
                if staged is not None:
                    await staged.flush()
                ticket = await ticket_store.open_ticket_for_series(
                    session, tenant_id=tenant, series_key=alert.series_key
                )
        origin = reset_origin(alert.labels)
        entry = logged(alert, None if ticket is None else ticket.id, origin)
        if staged is None:
            await series_log.add(session, tenant_id=tenant, entry=entry)
        else:
            staged.log.append((tenant, entry))
        if ticket is None:
            return None
        actions = alert.actions
        decision = decide_reset(
            origin=origin,
            reset_at=alert.occurred_at,
            last_occurrence_at=ticket.last_occurrence_at,
            close_on_reset=ticket.close_on_reset
            if actions.close_on_reset is None
            else actions.close_on_reset,
            human_touched=ticket.human_touched,
            reset_in_rmm_on_close=ticket.reset_in_rmm_on_close
            if actions.reset_in_rmm_on_close is None
            else actions.reset_in_rmm_on_close,
            series_key=alert.series_key,
        )
        damped = await self._damped_reset(session, ticket, alert, decision, staged)
        if damped is not None:
            return damped
        ticket, _ = await self._comment(
            session,
            ticket,
            decision.comment,
            Visibility.INTERNAL,
            AuthorKind.SYSTEM,
            SYSTEM_ACTOR,
            staged=staged,
        )
        if decision.closes:
            ticket = await self._close(
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
        return ticket
