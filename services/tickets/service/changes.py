"""The one path for each kind of change to a ticket (open, occur, update, comment, close,
reopen), each writing its history and staging its event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import events as ev
from services.tickets.domain.alerts import RoutedAlert, occurrence_comment, occurrence_comment_due
from services.tickets.domain.incidents import MergeTarget
from services.tickets.domain.tickets import (
    DEFAULT_PRIORITY,
    SYSTEM_ACTOR,
    AuthorKind,
    Cause,
    CloseReason,
    Comment,
    FieldChange,
    HistoryEntry,
    HistoryKind,
    Priority,
    Source,
    Status,
    TenantSettings,
    Ticket,
    Visibility,
    comment_touches,
    diff,
    is_human_touch,
)
from services.tickets.service.base import ServiceBase
from services.tickets.service.staged import Staged
from services.tickets.store import activity as activity_store
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store
from triage.runtime import (
    new_id,
)


class ChangePaths(ServiceBase):
    """The change paths every use case goes through."""

    async def _open_from_alert(
        self,
        session: AsyncSession,
        alert: RoutedAlert,
        times: Sequence[datetime],
        staged: Staged | None = None,
        *,
        last_occurrence_at: datetime | None = None,
    ) -> Ticket:
        actions = alert.actions
        now = self._clock()
        tenant = alert.tenant_id
        first = min(times) if times else alert.occurred_at
        if staged is not None and staged.numbers.get(tenant):
            number = staged.numbers[tenant].pop(0)
        else:
            number = await self._next_number(tenant)
        ticket = Ticket(
            id=new_id(),
            tenant_id=tenant,
            number=number,
            title=actions.title,
            description=actions.description,
            client_id=alert.client_id,
            client_name=alert.client_name,
            site_id=alert.site_id,
            site_name=alert.site_name,
            device_id=alert.device_id,
            device_name=alert.device_name,
            priority=actions.priority
            if actions.priority is not Priority.UNSPECIFIED
            else DEFAULT_PRIORITY,
            status=Status.NEW,
            queue=actions.queue,
            assignee=actions.assignee,
            source=Source.ALERT,
            severity=alert.severity,
            condition=alert.condition,
            dedup_key=alert.dedup_key,
            occurrence_count=max(1, len(times)),
            first_occurrence_at=first,
            last_occurrence_at=last_occurrence_at or alert.occurred_at,
            linked_series_keys=(alert.series_key,) if alert.series_key else (),
            rule_id=actions.rule_id,
            close_on_reset=True if actions.close_on_reset is None else actions.close_on_reset,
            reset_in_rmm_on_close=True
            if actions.reset_in_rmm_on_close is None
            else actions.reset_in_rmm_on_close,
            notification_channel_ids=actions.notification_channel_ids,
            created_at=now,
            updated_at=now,
            occurrence_comment_at=alert.occurred_at,
        )
        if staged is not None:
            staged.new[ticket.id] = ticket
        elif not await ticket_store.insert_ticket(session, ticket):
            # Unreachable while the key lock is held; the unique index is the last word.
            current = await ticket_store.open_ticket_for_key(
                session, tenant_id=tenant, dedup_key=alert.dedup_key
            )
            if current is None:
                raise RuntimeError(f"no open ticket for {alert.dedup_key} after a conflict")
            settings = await settings_store.get_settings(session, tenant_id=tenant)
            return await self._occur(session, current, alert, settings)
        assigned = tuple(
            FieldChange(name, "", str(value))
            for name, value in (
                ("priority", ticket.priority.name),
                ("queue", ticket.queue),
                ("assignee", ticket.assignee),
            )
            if value
        )
        await self._history(
            session,
            ticket,
            HistoryKind.CREATED,
            Cause.RULE if actions.rule_id else Cause.ALERT,
            actions.rule_id or SYSTEM_ACTOR,
            changes=assigned,
            detail=f"alert {alert.alert_id}",
            staged=staged,
        )
        opened = ev.opened(
            ticket,
            alert_id=alert.alert_id,
            series_key=alert.series_key,
            rule_set_version=alert.rule_set_version,
        )
        if staged is None:
            await self._outbox.add(session, opened)
        else:
            staged.event(opened)
        return ticket

    async def _occur(
        self,
        session: AsyncSession,
        ticket: Ticket,
        alert: RoutedAlert,
        settings: TenantSettings,
        staged: Staged | None = None,
    ) -> Ticket:
        now = self._clock()
        series = ticket.linked_series_keys
        if alert.series_key and alert.series_key not in series:
            series = (*series, alert.series_key)
        first, last = ticket.first_occurrence_at, ticket.last_occurrence_at
        after = replace(
            ticket,
            occurrence_count=ticket.occurrence_count + 1,
            first_occurrence_at=alert.occurred_at
            if first is None
            else min(first, alert.occurred_at),
            last_occurrence_at=alert.occurred_at if last is None else max(last, alert.occurred_at),
            linked_series_keys=series,
            uncommented_occurrences=ticket.uncommented_occurrences + 1,
            version=ticket.version + 1,
            updated_at=now,
        )
        due = occurrence_comment_due(
            ticket.occurrence_comment_at,
            occurred_at=alert.occurred_at,
            interval=settings.occurrence_comment_interval,
        )
        if due:
            after = replace(
                after, uncommented_occurrences=0, occurrence_comment_at=alert.occurred_at
            )
        if staged is None:
            await ticket_store.save_ticket(session, after)
        else:
            staged.save(after)
        await self._history(
            session,
            after,
            HistoryKind.OCCURRED,
            Cause.ALERT,
            SYSTEM_ACTOR,
            detail=f"alert {alert.alert_id}",
            staged=staged,
        )
        if staged is None:
            await self._outbox.add(session, ev.occurred(after, alert))
        else:
            staged.event(ev.occurred(after, alert))
        if due:
            body = occurrence_comment(
                count=ticket.uncommented_occurrences + 1,
                since=ticket.occurrence_comment_at,
                total=after.occurrence_count,
            )
            after, _ = await self._comment(
                session,
                after,
                body,
                Visibility.INTERNAL,
                AuthorKind.SYSTEM,
                SYSTEM_ACTOR,
                staged=staged,
            )
        return after

    async def _update(
        self,
        session: AsyncSession,
        ticket: Ticket,
        fields: Mapping[str, Any],
        cause: Cause,
        actor: str,
        *,
        detail: str = "",
    ) -> Ticket:
        candidate = replace(ticket, **fields)
        changes = diff(ticket, candidate, fields.keys())
        if not changes:
            return ticket
        paths = [c.field_path for c in changes]
        touched = ticket.human_touched or is_human_touch(cause, paths)
        after = replace(
            candidate,
            human_touched=touched or candidate.human_touched,
            version=ticket.version + 1,
            updated_at=self._clock(),
        )
        await ticket_store.save_ticket(session, after)
        await self._history(
            session, after, HistoryKind.UPDATED, cause, actor, changes=changes, detail=detail
        )
        await self._outbox.add(
            session, ev.updated(ticket, after, paths=paths, cause=cause, actor=actor)
        )
        return after

    async def _comment(
        self,
        session: AsyncSession,
        ticket: Ticket,
        body: str,
        visibility: Visibility,
        author_kind: AuthorKind,
        author: str,
        *,
        staged: Staged | None = None,
    ) -> tuple[Ticket, Comment]:
        now = self._clock()
        comment = Comment(
            id=new_id(),
            ticket_id=ticket.id,
            body=body,
            visibility=visibility,
            author_kind=author_kind,
            author=author,
            created_at=now,
        )
        if staged is None:
            comment = await activity_store.add_comment(
                session, tenant_id=ticket.tenant_id, comment=comment
            )
        else:
            staged.comments.append((ticket.tenant_id, comment))
        after = replace(
            ticket,
            human_touched=ticket.human_touched or comment_touches(author_kind),
            version=ticket.version + 1,
            updated_at=now,
        )
        if staged is None:
            await ticket_store.save_ticket(session, after)
        else:
            staged.save(after)
        await self._history(
            session,
            after,
            HistoryKind.COMMENTED,
            Cause.HUMAN if author_kind is AuthorKind.HUMAN else Cause.SYSTEM,
            author,
            detail=comment.id,
            staged=staged,
        )
        if staged is None:
            await self._outbox.add(session, ev.commented(after, comment))
        else:
            staged.event(ev.commented(after, comment))
        return after, comment

    async def _close(
        self,
        session: AsyncSession,
        ticket: Ticket,
        *,
        status: Status,
        reason: CloseReason,
        cause: Cause,
        actor: str,
        reset_alert: bool,
        auto: bool,
        staged: Staged | None = None,
        merged_into: MergeTarget | None = None,
    ) -> Ticket:
        now = self._clock()
        after = replace(
            ticket,
            status=status,
            close_reason=reason,
            closed_at=now,
            version=ticket.version + 1,
            updated_at=now,
            flapping_since=None,  # a closed ticket is not flapping (its close notifies)
        )
        if staged is None:
            await ticket_store.save_ticket(session, after)
        else:
            staged.save(after)
        await self._history(
            session,
            after,
            HistoryKind.CLOSED,
            cause,
            actor,
            changes=diff(ticket, after, ("status", "close_reason")),
            detail=reason.name,
            staged=staged,
        )
        closed = ev.closed(
            after,
            reason=reason,
            reset_alert=reset_alert,
            auto=auto,
            actor=actor,
            merged_into=merged_into,
        )
        if staged is None:
            await self._outbox.add(session, closed)
        else:
            staged.event(closed)
        return after

    async def _reopen(
        self,
        session: AsyncSession,
        ticket: Ticket,
        *,
        reason: str,
        cause: Cause,
        actor: str,
        author_kind: AuthorKind,
        alert_id: str = "",
    ) -> Ticket:
        now = self._clock()
        after = replace(
            ticket,
            status=Status.OPEN,
            close_reason=CloseReason.UNSPECIFIED,
            closed_at=None,
            reopen_count=ticket.reopen_count + 1,
            version=ticket.version + 1,
            updated_at=now,
        )
        await ticket_store.save_ticket(session, after)
        await self._history(
            session,
            after,
            HistoryKind.REOPENED,
            cause,
            actor,
            changes=diff(ticket, after, ("status",)),
            detail=reason,
        )
        await self._outbox.add(
            session, ev.reopened(after, reason=reason, cause=cause, actor=actor, alert_id=alert_id)
        )
        if reason:
            after, _ = await self._comment(
                session, after, reason, Visibility.INTERNAL, author_kind, actor
            )
        return after

    async def _history(
        self,
        session: AsyncSession,
        ticket: Ticket,
        kind: HistoryKind,
        cause: Cause,
        actor: str,
        *,
        changes: tuple[FieldChange, ...] = (),
        detail: str = "",
        staged: Staged | None = None,
    ) -> None:
        entry = HistoryEntry(
            id=new_id(),
            ticket_id=ticket.id,
            kind=kind,
            cause=cause,
            actor=actor,
            changes=changes,
            detail=detail,
            created_at=self._clock(),
        )
        if staged is None:
            await activity_store.add_history(session, tenant_id=ticket.tenant_id, entry=entry)
        else:
            staged.history.append((ticket.tenant_id, entry))
