"""Flap damping in the alert path (issue 18): a reset of a flapping series keeps its one
ticket open (a re-fire within the damping window of a close reopens that ticket:
``TenantSettings.reopen_window``), and a sweep closes flapping tickets once their series
has been quiet for the damping window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import ResetDecision, RoutedAlert
from services.tickets.domain.flapping import (
    flapping_comment,
    is_flapping,
    quiet_close_comment,
    quiet_since,
    settled_comment,
    state_changes,
)
from services.tickets.domain.order import position
from services.tickets.domain.tickets import (
    SYSTEM_ACTOR,
    AuthorKind,
    Cause,
    CloseReason,
    Status,
    TenantSettings,
    Ticket,
    Visibility,
)
from services.tickets.service.changes import ChangePaths
from services.tickets.service.staged import Staged
from services.tickets.store import flapping as flap_store
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store


class DampingUseCases(ChangePaths):
    """Flap damping: the reset hook, the flapping mark and the quiet-close sweep."""

    async def _damped_reset(
        self,
        session: AsyncSession,
        ticket: Ticket,
        alert: RoutedAlert,
        decision: ResetDecision,
        staged: Staged | None,
    ) -> Ticket | None:
        """What damping does with a reset of ``ticket``'s series: None when it changes
        nothing (the reset comments and maybe closes as usual), else the ticket after it
        (kept open, marked flapping on the first such reset, no per-flap comment)."""
        settings = await settings_store.get_settings(session, tenant_id=alert.tenant_id)
        damping = settings.damping
        if not damping.enabled:
            return None
        if ticket.flapping_since is not None:
            return ticket
        if not decision.closes:
            return None
        if staged is not None:
            await staged.flush()  # the batch's earlier log entries count too
        events = await flap_store.state_events(
            session,
            tenant_id=alert.tenant_id,
            series_keys=[alert.series_key],
            since=alert.occurred_at - damping.window,
        )
        events = sorted({*events, (alert.occurred_at, alert.sequence, alert.kind)})
        if not is_flapping(events, upto=position(alert), damping=damping):
            return None
        changes = state_changes(events, upto=position(alert), window=damping.window)
        return await self._mark_flapping(session, ticket, alert.occurred_at, changes, settings)

    async def _mark_flapping(
        self,
        session: AsyncSession,
        ticket: Ticket,
        since: datetime,
        changes: int,
        settings: TenantSettings,
    ) -> Ticket:
        """Mark ``ticket`` flapping (its ``ticket.updated`` says so once) and comment why."""
        marked = await self._update(
            session, ticket, {"flapping_since": since}, Cause.ALERT, SYSTEM_ACTOR
        )
        commented, _ = await self._comment(
            session,
            marked,
            flapping_comment(changes, settings.damping.window),
            Visibility.INTERNAL,
            AuthorKind.SYSTEM,
            SYSTEM_ACTOR,
        )
        return commented

    async def settle_flapping(self, *, limit: int = 100) -> int:
        """Close each open flapping ticket whose series was reset and has been quiet for
        the damping window (a person's ticket stays open, unmarked); a series quiet but
        still triggered is only unmarked. Returns how many tickets it settled."""
        async with self._db.system_transaction() as session:
            found = await flap_store.open_flapping(session, limit=limit)
        settled = 0
        for tenant_id, ticket_id in found:
            async with self._db.transaction(tenant_id) as session:
                settled += await self._settle_one(session, tenant_id, ticket_id)
        return settled

    async def _settle_one(self, session: AsyncSession, tenant_id: str, ticket_id: str) -> int:
        ticket = await ticket_store.get_ticket(
            session, tenant_id=tenant_id, ticket_id=ticket_id, for_update=True
        )
        if ticket is None or not ticket.is_open or ticket.flapping_since is None:
            return 0
        if ticket.dedup_key is not None:
            await ticket_store.lock(session, tenant_id=tenant_id, key=ticket.dedup_key)
        settings = await settings_store.get_settings(session, tenant_id=tenant_id)
        window = settings.damping.window
        events = await flap_store.state_events(
            session, tenant_id=tenant_id, series_keys=ticket.linked_series_keys, since=None
        )
        last = quiet_since(events)
        now = self._clock()
        if last is not None and now - last[0] < window:
            return 0
        unmarked = await self._update(
            session, ticket, {"flapping_since": None}, Cause.ALERT, SYSTEM_ACTOR
        )
        reset = last is not None and last[1]
        if not reset or unmarked.human_touched or not unmarked.close_on_reset:
            await self._comment(
                session,
                unmarked,
                settled_comment(window),
                Visibility.INTERNAL,
                AuthorKind.SYSTEM,
                SYSTEM_ACTOR,
            )
            return 1
        flaps = sum(1 for e in events if e[0] >= ticket.flapping_since - window)
        commented, _ = await self._comment(
            session,
            unmarked,
            quiet_close_comment(flaps, window),
            Visibility.INTERNAL,
            AuthorKind.SYSTEM,
            SYSTEM_ACTOR,
        )
        await self._close(
            session,
            commented,
            status=Status.CLOSED,
            reason=CloseReason.ALERT_RESET,
            cause=Cause.ALERT,
            actor=SYSTEM_ACTOR,
            reset_alert=False,
            auto=True,
        )
        return 1
