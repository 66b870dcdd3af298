"""A ticket's life by people and tools: create, update, close, reopen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from services.tickets import events as ev
from services.tickets.domain.tickets import (
    AuthorKind,
    CloseReason,
    HistoryKind,
    Source,
    Status,
    StatusPlan,
    Ticket,
    TransitionError,
    Visibility,
    closing_status,
    plan_status_change,
)
from services.tickets.errors import EtagMismatch, TicketStateConflict
from services.tickets.service.base import Actor, M, TicketRef
from services.tickets.service.changes import ChangePaths
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store
from services.tickets.store.requests import requests
from triage.runtime import (
    IdempotentReply,
    InvalidArgument,
    check_etag,
    new_id,
)


class LifecycleUseCases(ChangePaths):
    """Mutations by people and tools, one transaction each."""

    async def create_ticket(
        self, *, tenant_id: str, actor: Actor, draft: Ticket, reply: IdempotentReply[Ticket, M]
    ) -> M:
        """Open a manual ticket."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            settings = await settings_store.get_settings(session, tenant_id=tenant_id)
            if settings.is_closed(draft.status):
                raise InvalidArgument.field("ticket.status", "a new ticket must be open")
            now = self._clock()
            number = await self._next_number(tenant_id)
            ticket = replace(
                draft,
                id=new_id(),
                tenant_id=tenant_id,
                number=number,
                source=Source.MANUAL,
                dedup_key=None,
                created_at=now,
                updated_at=now,
                closed_at=None,
                version=1,
            )
            await ticket_store.insert_ticket(session, ticket)
            await self._history(
                session, ticket, HistoryKind.CREATED, actor.cause, actor.subject, detail="manual"
            )
            await self._outbox.add(session, ev.opened(ticket))
            return await reply.answer(session, requests, tenant_id, ticket)

    async def update_ticket(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        etag: str,
        values: Mapping[str, Any],
        reply: IdempotentReply[Ticket, M],
    ) -> M:
        """Change the fields in ``values``; a closing status goes through the close path."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            _check_etag(ticket, etag)
            settings = await settings_store.get_settings(session, tenant_id=tenant_id)
            fields = {k: v for k, v in values.items() if k != "status"}
            plan = StatusPlan.NOOP
            target: Status | None = values.get("status")
            if target is not None:
                try:
                    plan = plan_status_change(
                        ticket.status, target, is_open=ticket.is_open, settings=settings
                    )
                except TransitionError as exc:
                    raise InvalidArgument.field("ticket.status", str(exc)) from exc
                if plan is StatusPlan.SET:
                    fields["status"] = target
            result = await self._update(session, ticket, fields, actor.cause, actor.subject)
            if plan is StatusPlan.CLOSE:
                if actor.is_human and not result.human_touched:
                    result = await self._update(
                        session, result, {"human_touched": True}, actor.cause, actor.subject
                    )
                result = await self._close(
                    session,
                    result,
                    status=closing_status(target, settings),
                    reason=CloseReason.MANUAL if actor.is_human else CloseReason.SYSTEM,
                    cause=actor.cause,
                    actor=actor.subject,
                    reset_alert=result.reset_in_rmm_on_close,
                    auto=False,
                )
            return await reply.answer(session, requests, tenant_id, result)

    async def close_ticket(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        etag: str,
        resolution: str,
        reset_alert: bool | None,
        reply: IdempotentReply[Ticket, M],
    ) -> M:
        """Close a ticket through the close path (emits ``ticket.closed``)."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            _check_etag(ticket, etag)
            if not ticket.is_open:
                raise TicketStateConflict("the ticket is already closed")
            if resolution:
                ticket, _ = await self._comment(
                    session,
                    ticket,
                    resolution,
                    Visibility.PUBLIC,
                    AuthorKind.HUMAN if actor.is_human else AuthorKind.SYSTEM,
                    actor.subject,
                )
            closed = await self._close(
                session,
                ticket,
                status=Status.CLOSED,
                reason=CloseReason.MANUAL if actor.is_human else CloseReason.SYSTEM,
                cause=actor.cause,
                actor=actor.subject,
                reset_alert=ticket.reset_in_rmm_on_close if reset_alert is None else reset_alert,
                auto=False,
            )
            return await reply.answer(session, requests, tenant_id, closed)

    async def reopen_ticket(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        etag: str,
        reason: str,
        reply: IdempotentReply[Ticket, M],
    ) -> M:
        """Reopen a closed ticket (emits ``ticket.reopened``)."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            peek = await self._find(session, tenant_id, ref)
            if peek.dedup_key is not None:
                await ticket_store.lock(session, tenant_id=tenant_id, key=peek.dedup_key)
            ticket = await self._find(session, tenant_id, peek.id, for_update=True)
            _check_etag(ticket, etag)
            if ticket.is_open:
                raise TicketStateConflict("the ticket is not closed")
            if ticket.dedup_key is not None and await ticket_store.open_ticket_for_key(
                session, tenant_id=tenant_id, dedup_key=ticket.dedup_key
            ):
                raise TicketStateConflict("another ticket is open for the same alert")
            reopened = await self._reopen(
                session,
                ticket,
                reason=reason,
                cause=actor.cause,
                actor=actor.subject,
                author_kind=AuthorKind.HUMAN if actor.is_human else AuthorKind.SYSTEM,
            )
            return await reply.answer(session, requests, tenant_id, reopened)


def _check_etag(ticket: Ticket, etag: str) -> None:
    check_etag(
        etag,
        ticket.etag,
        lambda: EtagMismatch(f"ticket {ticket.id} changed since it was read (etag {ticket.etag})"),
    )
