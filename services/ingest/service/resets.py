"""Turns a closed ticket into outbound reset requests on the series' latest triggers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.clients.resets import ResetClient, reset_blocker
from services.ingest.domain.reset_policy import ClosedTicket, ResetState, initial_state
from services.ingest.events import reset_outcome
from services.ingest.store.integrations import get_integration
from services.ingest.store.resets import latest_series_alert, set_reset
from triage.runtime import Outbox, after_commit

log = logging.getLogger(__name__)

ACTIVE_KINDS = ("trigger", "reset")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ResetRequests:
    """Handles ``ticket.closed`` inside the consumer's transaction."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        clients: Mapping[str, ResetClient],
        wake: Callable[[], None],
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._outbox = outbox
        self._clients = clients
        self._wake = wake
        self._clock = clock

    async def on_ticket_closed(
        self, session: AsyncSession, tenant_id: str, closed: ClosedTicket
    ) -> None:
        """Request a reset of each linked series' latest trigger, if the ticket asked."""
        if not closed.reset_alert:
            return
        for series_key in dict.fromkeys(closed.series_keys):
            await self._request(session, series_key=series_key, ticket_id=closed.ticket_id)

    async def _request(self, session: AsyncSession, *, series_key: str, ticket_id: str) -> None:
        latest = await latest_series_alert(
            session, series_key=series_key, kinds=ACTIVE_KINDS, lock=True
        )
        if latest is None:
            log.info("no alert to reset", extra={"series_key": series_key})
            return
        target = latest
        if latest.kind == "reset":
            trigger = await latest_series_alert(
                session, series_key=series_key, kinds=("trigger",), lock=True
            )
            target = trigger or latest
        if target.reset_state != ResetState.NOT_REQUESTED:
            return
        state, outcome = initial_state(
            latest_is_reset=latest.kind == "reset",
            blocker=await self._blocker(session, target.integration_id),
        )
        now = self._clock()
        values: dict[str, Any] = {
            "reset_state": state.value,
            "reset_ticket_id": ticket_id or None,
            "reset_last_outcome": outcome,
        }
        if state is ResetState.PENDING:
            values["reset_next_attempt_at"] = now
        else:
            values["reset_completed_at"] = now
        row = await set_reset(session, alert_id=str(target.id), values=values)
        if state.final:
            await self._outbox.add(session, reset_outcome(row, completed_at=now))
        else:
            after_commit(session, self._wake)

    async def _blocker(self, session: AsyncSession, integration_id: str) -> str | None:
        integration = await get_integration(session, str(integration_id))
        if integration is None:
            return "the integration was deleted"
        return reset_blocker(
            provider=integration.provider,
            settings=integration.settings,
            has_secret=integration.api_secret is not None,
            disabled=integration.disabled,
            clients=self._clients,
        )
