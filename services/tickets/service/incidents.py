"""Incidents on the alert path (issue 19): correlated alerts and client storms become one
parent ticket with linked member alerts, inside the alert consumer's batch transaction."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import AlertKind, RoutedAlert, is_superseded
from services.tickets.domain.incidents import (
    STORM_TICKETS_BEFORE,
    Correlation,
    Incident,
    JoinKind,
    Member,
    MergeTarget,
    closes_parent,
    decide_join,
    merged_comment,
    reset_comment,
    storm_title,
    takes_face,
    worst_severity,
)
from services.tickets.domain.order import logged
from services.tickets.domain.tickets import (
    SYSTEM_ACTOR,
    AuthorKind,
    Cause,
    CloseReason,
    Priority,
    Status,
    Ticket,
    Visibility,
)
from services.tickets.service.storms import StormPaths
from services.tickets.store import alert_state as alert_store
from services.tickets.store import incidents as incident_store
from services.tickets.store import series_log
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store
from triage.runtime import new_id

Scoped = tuple[RoutedAlert, AbstractContextManager[Any]]


class IncidentPaths(StormPaths):
    """Membership decisions and the parent ticket's changes for incidents."""

    async def _incident_alerts(
        self, session: AsyncSession, alerts: Sequence[Scoped]
    ) -> list[Scoped]:
        """Apply the batch's alerts that belong to incidents; return the others, in order.

        An incident's alerts are: triggers that carry a correlation, triggers and resets of
        a series in an open incident (whatever key they carry: rules may have changed), and
        triggers of a client in a storm. They are applied one at a time in occurrence order
        (the batch comes sorted by ticket key; a group's members all share the partition).
        """
        pairs = list(
            dict.fromkeys(
                (a.tenant_id, a.series_key)
                for a, _ in alerts
                if a.kind in (AlertKind.TRIGGER, AlertKind.RESET) and a.series_key
            )
        )
        memberships = await incident_store.series_memberships(session, pairs)
        known, moved = memberships.latest, memberships.moved
        mine: list[tuple[Scoped, Correlation | None]] = []
        rest: list[Scoped] = []
        for item in alerts:
            alert = item[0]
            current = known.get((alert.tenant_id, alert.series_key))
            if (alert.tenant_id, alert.series_key) in moved:
                rest.append(item)  # a person took it out: its own ticket from now on
                continue
            in_open = current is not None and current.is_open
            if alert.kind is AlertKind.TRIGGER and alert.actions.wants_ticket:
                if alert.correlation is not None or in_open:
                    mine.append((item, alert.correlation))
                    continue
            elif alert.kind is AlertKind.RESET and in_open:
                mine.append((item, None))
                continue
            rest.append(item)
        rest, stormed = await self._storm_split(session, rest)
        mine.extend(stormed)
        mine.sort(key=lambda entry: entry[0][0].occurred_at)
        storms: dict[tuple[str, str], Incident] = {}
        for (alert, scope), correlation in mine:
            with scope:
                if alert.kind is AlertKind.RESET:
                    await self._member_reset(session, alert)
                    continue
                joined = await self._member_trigger(session, alert, correlation)
                if joined is not None and joined.storm:
                    storms[(joined.tenant_id, joined.id)] = joined
        # One title change per storm and batch, however many alerts joined it.
        await self._retitle_storms(session, [storms[k] for k in sorted(storms)])
        return rest

    async def _member_trigger(
        self, session: AsyncSession, alert: RoutedAlert, correlation: Correlation | None
    ) -> Incident | None:
        """A trigger joins, reopens or starts its incident; that incident, if any."""
        tenant = alert.tenant_id
        stone = await alert_store.get_tombstone(
            session, tenant_id=tenant, series_key=alert.series_key
        )
        if stone is not None and is_superseded(
            occurred_at=alert.occurred_at,
            sequence=alert.sequence,
            reset_at=stone.reset_at,
            reset_sequence=stone.reset_sequence,
        ):
            # Older than its series' latest reset (delivered late): recorded, nothing changes.
            await series_log.add(session, tenant_id=tenant, entry=logged(alert, None))
            return None
        settings = await settings_store.get_settings(session, tenant_id=tenant)
        known = await incident_store.series_incidents(session, [(tenant, alert.series_key)])
        series_incident = known.get((tenant, alert.series_key))
        group_incident = None
        storm = correlation is not None and correlation.group_key.startswith("storm:")
        if correlation is not None:
            if storm:
                group_incident = await incident_store.open_storm(
                    session, tenant_id=tenant, group_key=correlation.group_key
                )
            else:
                group_incident = await incident_store.latest_for_group(
                    session, tenant_id=tenant, group_key=correlation.group_key
                )
        series_incident = await self._synced(session, series_incident)
        group_incident = await self._synced(session, group_incident)
        if storm and group_incident is not None:
            # A storm's window is a calm period, not a span from its start.
            group_incident = replace(group_incident, started_at=alert.occurred_at)
        join = decide_join(
            occurred_at=alert.occurred_at,
            series_incident=series_incident,
            group_incident=group_incident,
            reopen_window=settings.reopen_window,
        )
        if join.kind is JoinKind.START or join.incident is None:
            if correlation is None:
                return None  # unreachable: an uncorrelated alert comes here only into an open one
            return await self._start_incident(session, alert, correlation, storm=storm)
        incident = join.incident
        if storm:
            fresh = await incident_store.get_incident(
                session, tenant_id=tenant, incident_id=incident.id, for_update=True
            )
            incident = fresh or incident
        return await self._attach(
            session, incident, alert, correlation, reopen=join.kind is JoinKind.REOPEN
        )

    async def _synced(self, session: AsyncSession, incident: Incident | None) -> Incident | None:
        """``incident`` closed when a person closed its parent ticket (so the reopen window
        counts from that close, as for any ticket)."""
        if incident is None or not incident.is_open:
            return incident
        parent = await ticket_store.get_ticket(
            session, tenant_id=incident.tenant_id, ticket_id=incident.parent_ticket_id
        )
        if parent is None or parent.is_open:
            return incident
        closed = replace(incident, closed_at=parent.closed_at)
        await incident_store.save_incident(session, closed)
        return closed

    async def _start_incident(
        self, session: AsyncSession, alert: RoutedAlert, correlation: Correlation, *, storm: bool
    ) -> Incident | None:
        """Open the parent ticket from the incident's first member (through the ordinary
        trigger path: persistence, reopening and late arrival apply to it as to any alert);
        the incident it is in then."""
        tenant = alert.tenant_id
        if not storm and (instead := await self._storm_instead(session, alert)) is not None:
            # The client is in a storm: a new group's first alert joins it instead.
            return await self._member_trigger(session, alert, instead)
        recent = 0
        if storm:
            # The storm's ticket says so from its first event (one "opened" notification).
            recent = int(dict(correlation.group_values).get(STORM_TICKETS_BEFORE, "0"))
            title = storm_title(client_name=alert.client_name, alerts=recent + 1)
            alert = replace(alert, actions=replace(alert.actions, title=title))
        parent = await self._on_trigger(session, alert)
        if parent is None:
            return None  # waiting (persistence): the incident starts when its ticket opens
        incident = Incident(
            id=new_id(),
            tenant_id=tenant,
            group_key=correlation.group_key,
            rule_id=correlation.rule_id,
            rule_name=correlation.rule_name,
            parent_ticket_id=parent.id,
            started_at=alert.occurred_at,
            window=correlation.window,
            storm=storm,
            client_id=alert.client_id,
            client_name=alert.client_name,
            primary_series_key=alert.series_key if correlation.primary else "",
            severity=alert.severity,
            last_joined_at=alert.occurred_at,
            storm_tickets_before=recent,
        )
        if not await incident_store.insert_incident(session, incident):
            # Another replica opened the client's storm first: join it (merging this ticket).
            existing = await incident_store.open_storm(
                session, tenant_id=tenant, group_key=correlation.group_key
            )
            if existing is None:
                return None
            return await self._attach(session, existing, alert, correlation, reopen=False)
        await incident_store.put_member(
            session, tenant_id=tenant, member=_new_member(incident.id, alert, correlation)
        )
        return incident

    async def _attach(
        self,
        session: AsyncSession,
        incident: Incident,
        alert: RoutedAlert,
        correlation: Correlation | None,
        *,
        reopen: bool,
    ) -> Incident | None:
        """Link ``alert`` to ``incident``: one occurrence on the parent, the member's own count,
        its own open ticket merged, a primary taking the face, the worst severity. The
        incident as saved (None when its parent is gone)."""
        tenant = alert.tenant_id
        parent = await ticket_store.get_ticket(
            session, tenant_id=tenant, ticket_id=incident.parent_ticket_id, for_update=True
        )
        if parent is None:
            return None
        settings = await settings_store.get_settings(session, tenant_id=tenant)
        if reopen or not parent.is_open:
            parent = await self._reopen(
                session,
                parent,
                reason=f"Incident member {_who(alert)} triggered again (alert {alert.alert_id}).",
                cause=Cause.SYSTEM,
                actor=SYSTEM_ACTOR,
                author_kind=AuthorKind.SYSTEM,
                alert_id=alert.alert_id,
            )
            incident = replace(incident, closed_at=None)
        parent = await self._occur(session, parent, alert, settings)
        await series_log.add(session, tenant_id=tenant, entry=logged(alert, parent.id))
        found = [
            m
            for m in await incident_store.members(
                session, tenant_id=tenant, incident_id=incident.id
            )
            if m.series_key == alert.series_key
        ]
        if found:
            old = found[0]
            member = replace(
                old,
                occurrences=old.occurrences + 1,
                first_at=min(old.first_at, alert.occurred_at),
                last_at=max(old.last_at, alert.occurred_at),
                reset_at=None
                if old.reset_at is None or alert.occurred_at > old.reset_at
                else old.reset_at,
                severity=max(old.severity, alert.severity),
            )
        else:
            member = _new_member(incident.id, alert, correlation)
            if alert.dedup_key != parent.dedup_key:
                merged = await self._merge_own_ticket(session, alert, parent, incident)
                if merged is not None:
                    member = replace(member, merged_ticket_id=merged)
        primary = correlation is not None and correlation.primary
        if primary and takes_face(incident, primary=True):
            incident = replace(incident, primary_series_key=alert.series_key)
            member = replace(member, primary=True)
            if not parent.human_touched and alert.actions.title:
                parent = await self._update(
                    session,
                    parent,
                    {"title": alert.actions.title},
                    Cause.SYSTEM,
                    SYSTEM_ACTOR,
                    detail=f"primary alert {alert.alert_id}",
                )
        await incident_store.put_member(session, tenant_id=tenant, member=member)
        severity = worst_severity(incident.severity, alert.severity)
        fields: dict[str, Any] = {}
        if severity > parent.severity:
            fields["severity"] = severity
        wanted = alert.actions.priority
        if wanted is not Priority.UNSPECIFIED and wanted < parent.priority:
            fields["priority"] = wanted
        if fields:
            await self._update(session, parent, fields, Cause.ALERT, SYSTEM_ACTOR)
        last = incident.last_joined_at
        incident = replace(
            incident,
            severity=severity,
            last_joined_at=alert.occurred_at if last is None else max(last, alert.occurred_at),
        )
        await incident_store.save_incident(session, incident)
        return incident

    async def _merge_own_ticket(
        self, session: AsyncSession, alert: RoutedAlert, parent: Ticket, incident: Incident
    ) -> str | None:
        """Close the member's own open ticket as merged into the parent; its id, if any."""
        own = await ticket_store.open_ticket_for_key(
            session, tenant_id=alert.tenant_id, dedup_key=alert.dedup_key
        )
        if own is None or own.id == parent.id:
            return None
        own, _ = await self._comment(
            session,
            own,
            merged_comment(parent_number=parent.number, incident_id=incident.id),
            Visibility.INTERNAL,
            AuthorKind.SYSTEM,
            SYSTEM_ACTOR,
        )
        await self._close(
            session,
            own,
            status=Status.CLOSED,
            reason=CloseReason.MERGED,
            cause=Cause.SYSTEM,
            actor=SYSTEM_ACTOR,
            reset_alert=False,
            auto=True,
            merged_into=MergeTarget(parent.id, parent.number, incident.id),
        )
        return own.id

    async def _member_reset(self, session: AsyncSession, alert: RoutedAlert) -> None:
        """A member's reset: a comment on the parent; the parent closes when every member has
        reset and no person touched it."""
        tenant = alert.tenant_id
        await alert_store.put_tombstone(
            session,
            tenant_id=tenant,
            series_key=alert.series_key,
            reset_at=alert.occurred_at,
            reset_sequence=alert.sequence,
            alert_id=alert.alert_id,
        )
        known = await incident_store.series_incidents(session, [(tenant, alert.series_key)])
        incident = known.get((tenant, alert.series_key))
        if incident is None:
            return
        parent = await ticket_store.get_ticket(
            session, tenant_id=tenant, ticket_id=incident.parent_ticket_id, for_update=True
        )
        await series_log.add(
            session, tenant_id=tenant, entry=logged(alert, None if parent is None else parent.id)
        )
        listed = await incident_store.members(session, tenant_id=tenant, incident_id=incident.id)
        updated: list[Member] = []
        for m in listed:
            if m.series_key == alert.series_key and alert.occurred_at >= m.last_at:
                m = replace(m, reset_at=alert.occurred_at)
                await incident_store.put_member(session, tenant_id=tenant, member=m)
            updated.append(m)
        if parent is None or not parent.is_open:
            return
        active = sum(1 for m in updated if m.active)
        parent, _ = await self._comment(
            session,
            parent,
            reset_comment(
                series_key=alert.series_key,
                device_name=alert.device_name,
                reset_at=alert.occurred_at,
                active=active,
            ),
            Visibility.INTERNAL,
            AuthorKind.SYSTEM,
            SYSTEM_ACTOR,
        )
        close_on_reset = (
            parent.close_on_reset
            if alert.actions.close_on_reset is None
            else alert.actions.close_on_reset
        )
        if closes_parent(
            updated, human_touched=parent.human_touched, close_on_reset=close_on_reset
        ):
            closed = await self._close(
                session,
                parent,
                status=Status.CLOSED,
                reason=CloseReason.ALERT_RESET,
                cause=Cause.ALERT,
                actor=SYSTEM_ACTOR,
                reset_alert=False,
                auto=True,
            )
            await incident_store.save_incident(
                session, replace(incident, closed_at=closed.closed_at)
            )

    if TYPE_CHECKING:
        # Provided by the alert use cases, which TicketService puts before this class.
        async def _on_trigger(self, session: AsyncSession, alert: RoutedAlert) -> Ticket | None: ...


def _who(alert: RoutedAlert) -> str:
    return alert.device_name or alert.series_key


def _new_member(incident_id: str, alert: RoutedAlert, correlation: Correlation | None) -> Member:
    at: datetime = alert.occurred_at
    return Member(
        incident_id=incident_id,
        series_key=alert.series_key,
        dedup_key=alert.dedup_key,
        primary=correlation is not None and correlation.primary,
        occurrences=1,
        first_at=at,
        last_at=at,
        device_name=alert.device_name,
        condition=alert.condition,
        severity=alert.severity,
    )
