"""What the late paths share: a ticket locked under its key, a system note, a reset's
decision applied, a reopen, occurrences counted together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.alerts import ResetDecision, RoutedAlert
from services.tickets.domain.order import (
    Logged,
)
from services.tickets.domain.tickets import (
    SYSTEM_ACTOR,
    AuthorKind,
    Cause,
    Status,
    TenantSettings,
    Ticket,
    Visibility,
)
from services.tickets.service.changes import ChangePaths
from services.tickets.service.staged import Staged
from services.tickets.store import tickets as ticket_store


def new_staged(service: ChangePaths, session: AsyncSession) -> Staged:
    """Writes staged for one late alert's new ticket (flushed by the caller)."""
    return Staged(session, service._outbox)


async def locked(session: AsyncSession, tenant_id: str, ticket_id: str) -> Ticket | None:
    """The ticket, its key's lock taken first (as every alert path does), then its row."""
    peek = await ticket_store.get_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id)
    if peek is None:
        return None
    if peek.dedup_key is not None:
        await ticket_store.lock(session, tenant_id=tenant_id, key=peek.dedup_key)
    return await ticket_store.get_ticket(
        session, tenant_id=tenant_id, ticket_id=ticket_id, for_update=True
    )


async def note(service: ChangePaths, session: AsyncSession, ticket: Ticket, body: str) -> Ticket:
    """``ticket`` with an internal system comment ``body``."""
    after, _ = await service._comment(
        session, ticket, body, Visibility.INTERNAL, AuthorKind.SYSTEM, SYSTEM_ACTOR
    )
    return after


async def decide(
    service: ChangePaths,
    session: AsyncSession,
    ticket: Ticket,
    decision: ResetDecision,
    staged: Staged | None = None,
) -> Ticket:
    """A reset's comment on ``ticket`` and, if it decides so, its close."""
    ticket, _ = await service._comment(
        session,
        ticket,
        decision.comment,
        Visibility.INTERNAL,
        AuthorKind.SYSTEM,
        SYSTEM_ACTOR,
        staged=staged,
    )
    if not decision.closes:
        return ticket
    return await service._close(
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


async def occur_all(
    service: ChangePaths,
    session: AsyncSession,
    ticket: Ticket,
    alert: RoutedAlert,
    extra: Sequence[Logged],
    settings: TenantSettings,
) -> Ticket:
    """``alert`` counted on ``ticket`` with the logged triggers ``extra`` (they waited for a
    persistence delay that ``alert`` meets)."""
    if extra:
        times = [e.occurred_at for e in extra]
        first, last = ticket.first_occurrence_at, ticket.last_occurrence_at
        ticket = replace(
            ticket,
            occurrence_count=ticket.occurrence_count + len(extra),
            first_occurrence_at=min([*times, *([first] if first else [])]),
            last_occurrence_at=max([*times, *([last] if last else [])]),
            uncommented_occurrences=ticket.uncommented_occurrences + len(extra),
        )
    return await service._occur(session, ticket, alert, settings)


def reopened_once_more(ticket: Ticket) -> Ticket:
    """``ticket`` counting one more close and reopen than it went through (a late trigger
    filled an empty stretch between two resets: in order it was closed and reopened)."""
    return replace(
        ticket,
        reopen_count=ticket.reopen_count + 1,
        status=Status.OPEN if ticket.status is Status.NEW else ticket.status,
    )


async def reopen(
    service: ChangePaths, session: AsyncSession, ticket: Ticket, alert_id: str
) -> Ticket:
    """``ticket`` reopened by the trigger ``alert_id`` (a system change)."""
    return await service._reopen(
        session,
        ticket,
        reason=f"The alert triggered again (alert {alert_id}).",
        cause=Cause.SYSTEM,
        actor=SYSTEM_ACTOR,
        author_kind=AuthorKind.SYSTEM,
        alert_id=alert_id,
    )
