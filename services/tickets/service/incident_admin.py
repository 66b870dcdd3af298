"""Incidents for people (issue 19): list, show with members and timeline, move a member
out, merge two incidents. Moves and merges are human actions: they touch the parents."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.incidents import (
    Incident,
    IncidentDetail,
    IncidentView,
    Member,
    MergeTarget,
    timeline,
)
from services.tickets.domain.tickets import AuthorKind, CloseReason, Status, Ticket, Visibility
from services.tickets.errors import IncidentConflict, IncidentNotFound
from services.tickets.service.base import Actor
from services.tickets.service.storms import StormPaths
from services.tickets.store import incidents as incident_store
from services.tickets.store import tickets as ticket_store


class IncidentAdminUseCases(StormPaths):
    """The incident RPCs' use cases."""

    async def list_incidents(
        self,
        *,
        tenant_id: str,
        open_only: bool,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[IncidentView]:
        """A page of incidents, newest first (``limit`` rows after the keyset ``before``)."""
        async with self._db.transaction(tenant_id) as session:
            found = await incident_store.list_incidents(
                session, tenant_id=tenant_id, open_only=open_only, limit=limit, before=before
            )
            counts = await incident_store.member_counts(
                session, tenant_id=tenant_id, incident_ids=[i.id for i in found]
            )
        return [IncidentView(i, *counts.get(i.id, (0, 0))) for i in found]

    async def get_incident(self, *, tenant_id: str, incident_id: str) -> IncidentDetail:
        """One incident with its members and timeline."""
        async with self._db.transaction(tenant_id) as session:
            incident = await self._incident(session, tenant_id, incident_id)
            members = await incident_store.members(
                session, tenant_id=tenant_id, incident_id=incident_id
            )
        return _detail(incident, members)

    async def move_member(
        self, *, tenant_id: str, actor: Actor, incident_id: str, series_key: str
    ) -> IncidentDetail:
        """Take a member out: it stays in the timeline as moved out; its later alerts take
        the ordinary path (their own ticket). The parent's own alert cannot be moved."""
        async with self._db.transaction(tenant_id) as session:
            incident = await self._incident(session, tenant_id, incident_id, for_update=True)
            members = await incident_store.members(
                session, tenant_id=tenant_id, incident_id=incident_id
            )
            member = next(
                (m for m in members if m.series_key == series_key and m.moved_at is None), None
            )
            if member is None:
                raise IncidentNotFound(f"series {series_key} is not a member of {incident_id}")
            parent = await self._parent(session, incident)
            if member.dedup_key == parent.dedup_key:
                raise IncidentConflict(
                    "the parent ticket's own alert cannot be moved out; close the incident instead"
                )
            moved = replace(member, moved_at=self._clock())
            await incident_store.put_member(session, tenant_id=tenant_id, member=moved)
            await self._touch(
                session,
                parent,
                actor,
                f"{actor.subject} moved {member.device_name or series_key} (series "
                f"{series_key}) out of this incident.",
            )
            if incident.storm:
                await self._retitle_storms(session, [incident])  # one alert fewer
            members = [moved if m.series_key == series_key else m for m in members]
        return _detail(incident, members)

    async def merge_incidents(
        self, *, tenant_id: str, actor: Actor, target_id: str, source_id: str
    ) -> IncidentDetail:
        """Move every member of ``source_id`` into ``target_id``; the source's parent closes
        as merged (a comment says where) and the source incident closes."""
        if target_id == source_id:
            raise IncidentConflict("an incident cannot be merged into itself")
        async with self._db.transaction(tenant_id) as session:
            first, second = sorted((target_id, source_id))
            locked = {
                i: await self._incident(session, tenant_id, i, for_update=True)
                for i in (first, second)
            }
            target, source = locked[target_id], locked[source_id]
            if target.closed_at is not None:
                raise IncidentConflict("the target incident is closed; reopen its ticket first")
            parent = await self._parent(session, target)
            source_parent = await self._parent(session, source)
            await incident_store.move_members(
                session, tenant_id=tenant_id, source_id=source_id, target_id=target_id
            )
            now = self._clock()
            await incident_store.save_incident(session, replace(source, closed_at=now))
            target = replace(target, severity=max(target.severity, source.severity))
            await incident_store.save_incident(session, target)
            await self._touch(
                session,
                parent,
                actor,
                f"{actor.subject} merged incident {source_id} (ticket "
                f"#{source_parent.number}) into this one.",
            )
            if source_parent.is_open:
                source_parent = await self._touch(
                    session,
                    source_parent,
                    actor,
                    f"Merged by {actor.subject} into incident {target_id} (ticket "
                    f"#{parent.number}), which carries its alerts from now on.",
                )
                await self._close(
                    session,
                    source_parent,
                    status=Status.CLOSED,
                    reason=CloseReason.MERGED,
                    cause=actor.cause,
                    actor=actor.subject,
                    reset_alert=False,
                    auto=False,
                    merged_into=MergeTarget(parent.id, parent.number, target_id),
                )
            if target.storm:
                await self._retitle_storms(session, [target])  # the source's alerts joined
            members = await incident_store.members(
                session, tenant_id=tenant_id, incident_id=target_id
            )
        return _detail(target, members)

    async def _incident(
        self, session: AsyncSession, tenant_id: str, incident_id: str, *, for_update: bool = False
    ) -> Incident:
        found = await incident_store.get_incident(
            session, tenant_id=tenant_id, incident_id=incident_id, for_update=for_update
        )
        if found is None:
            raise IncidentNotFound(f"incident {incident_id} not found")
        return found

    async def _parent(self, session: AsyncSession, incident: Incident) -> Ticket:
        parent = await ticket_store.get_ticket(
            session,
            tenant_id=incident.tenant_id,
            ticket_id=incident.parent_ticket_id,
            for_update=True,
        )
        if parent is None:
            raise IncidentNotFound(f"the parent ticket of incident {incident.id} is gone")
        return parent

    async def _touch(
        self, session: AsyncSession, ticket: Ticket, actor: Actor, body: str
    ) -> Ticket:
        """A comment by the acting person: a human touch (the parent no longer auto-closes)."""
        kind = AuthorKind.HUMAN if actor.is_human else AuthorKind.SYSTEM
        after, _ = await self._comment(
            session, ticket, body, Visibility.INTERNAL, kind, actor.subject
        )
        return after


def _detail(incident: Incident, members: list[Member]) -> IncidentDetail:
    kept = [m for m in members if m.moved_at is None]
    view = IncidentView(incident, len(kept), sum(1 for m in kept if m.active))
    return IncidentDetail(view, tuple(members), tuple(timeline(incident, members)))
