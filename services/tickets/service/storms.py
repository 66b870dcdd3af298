"""Storm protection without configuration (issue 19): more than N new alert tickets of one
client within a window collapse further ones into one storm incident for that client."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import AlertKind, RoutedAlert
from services.tickets.domain.incidents import (
    STORM_TICKETS_BEFORE,
    Correlation,
    Incident,
    StormSettings,
    storm_key,
    storm_retitle,
    storming,
)
from services.tickets.domain.tickets import SYSTEM_ACTOR, Cause
from services.tickets.service.changes import ChangePaths
from services.tickets.store import incidents as incident_store
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store

Scoped = tuple[RoutedAlert, AbstractContextManager[Any]]


def _storm_correlation(settings: StormSettings, client_id: str, before: int) -> Correlation:
    """The correlation a stormed alert joins with; ``before``: the alert tickets the client
    opened before it (the storm's title counts them)."""
    return Correlation(
        rule_id="",
        rule_name="storm",
        group_key=storm_key(client_id),
        window=settings.window,
        group_values=((STORM_TICKETS_BEFORE, str(before)),),
    )


class StormPaths(ChangePaths):
    """Which new tickets a client's storm takes."""

    async def _storm_state(
        self, session: AsyncSession, tenant: str, client: str
    ) -> tuple[StormSettings, Incident | None, int] | None:
        """The tenant's storm settings, the client's open storm and its recent alert
        tickets, under the client's lock; None when storm protection is off. The counter is
        shared by every partition: batches of one client count and decide one after the
        other."""
        settings = (await settings_store.get_settings(session, tenant_id=tenant)).storm
        if not settings.enabled:
            return None
        key = storm_key(client)
        await ticket_store.lock(session, tenant_id=tenant, key=key)
        storm = await incident_store.open_storm(session, tenant_id=tenant, group_key=key)
        recent = await incident_store.recent_alert_tickets(
            session,
            tenant_id=tenant,
            client_id=client,
            since=self._clock() - settings.window,
            at_most=settings.tickets + 1,
        )
        return settings, storm, recent

    async def _storm_instead(self, session: AsyncSession, alert: RoutedAlert) -> Correlation | None:
        """The storm correlation a correlated group's first alert joins instead of opening
        its own ticket, if its client is in a storm."""
        if not alert.client_id:
            return None
        state = await self._storm_state(session, alert.tenant_id, alert.client_id)
        if state is None:
            return None
        settings, storm, recent = state
        if storming(
            settings=settings, recent_opens=recent, storm=storm, occurred_at=alert.occurred_at
        ):
            return _storm_correlation(settings, alert.client_id, recent)
        return None

    async def _storm_split(
        self, session: AsyncSession, alerts: list[Scoped]
    ) -> tuple[list[Scoped], list[tuple[Scoped, Correlation | None]]]:
        """Take the triggers that a client's storm collapses out of ``alerts``."""
        by_client: dict[tuple[str, str], list[Scoped]] = {}
        for item in alerts:
            a = item[0]
            if a.kind is AlertKind.TRIGGER and a.actions.wants_ticket and a.client_id:
                by_client.setdefault((a.tenant_id, a.client_id), []).append(item)
        stormed: list[tuple[Scoped, Correlation | None]] = []
        taken: set[int] = set()
        for (tenant, client), items in sorted(by_client.items()):
            # The client lock is taken here, before any ticket key's.
            state = await self._storm_state(session, tenant, client)
            if state is None:
                continue
            settings, storm, recent = state
            # Each ticket key counts once: its first trigger opens (or joins the storm),
            # its later ones in the batch follow that first one.
            if storm is None and recent + len({i[0].dedup_key for i in items}) <= settings.tickets:
                continue
            window, key = settings.window, storm_key(client)
            decided: dict[str, bool] = {}
            for item in sorted(items, key=lambda i: i[0].occurred_at):
                a = item[0]
                if a.dedup_key not in decided:
                    if await ticket_store.open_ticket_for_key(
                        session, tenant_id=tenant, dedup_key=a.dedup_key
                    ):
                        decided[a.dedup_key] = False  # its own ticket is open: it counts there
                        continue
                    decided[a.dedup_key] = storming(
                        settings=settings,
                        recent_opens=recent,
                        storm=storm,
                        occurred_at=a.occurred_at,
                    )
                    if not decided[a.dedup_key]:
                        recent += 1
                    elif storm is None:
                        # The storm starts with this alert; later ones join it.
                        storm = Incident(
                            id="",
                            tenant_id=tenant,
                            group_key=key,
                            rule_id="",
                            rule_name="storm",
                            parent_ticket_id="",
                            started_at=a.occurred_at,
                            window=window,
                            storm=True,
                            last_joined_at=a.occurred_at,
                        )
                    else:
                        storm = replace(storm, last_joined_at=a.occurred_at)
                if decided[a.dedup_key]:
                    # The tickets the client opened before (this batch's included) name the
                    # storm's size in its title.
                    stormed.append((item, _storm_correlation(settings, client, recent)))
                    taken.add(id(item))
        return [i for i in alerts if id(i) not in taken], stormed

    async def _retitle_storms(self, session: AsyncSession, storms: Sequence[Incident]) -> None:
        """Bring each storm parent's title to its current size (a ``ticket.updated`` of the
        title, with its history entry), unless a person renamed it: called once per batch."""
        for storm in storms:
            counts = await incident_store.member_counts(
                session, tenant_id=storm.tenant_id, incident_ids=[storm.id]
            )
            members = counts.get(storm.id, (0, 0))[0]
            parent = await ticket_store.get_ticket(
                session,
                tenant_id=storm.tenant_id,
                ticket_id=storm.parent_ticket_id,
                for_update=True,
            )
            if parent is None:
                continue
            title = storm_retitle(storm, title=parent.title, members=members)
            if title is not None:
                await self._update(
                    session,
                    parent,
                    {"title": title},
                    Cause.SYSTEM,
                    SYSTEM_ACTOR,
                    detail=f"storm of {members} alert(s)",
                )
