"""Glue between a batch consumer and a service: one transaction per batch, inbox included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.bus import BatchHandler
from triage.runtime.db import Database, bind_tenant
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox

EventHandler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]


def transactional_handler(db: Database, inbox: Inbox, handle: EventHandler) -> BatchHandler:
    """Handle a batch in one transaction; each event's tenant is bound before its effects.

    An event whose id the inbox already holds is skipped, so a redelivery (after a crash
    between commit and ack, or a duplicate publish) has no second effect.
    """

    async def handle_batch(events: Sequence[ReceivedEvent]) -> None:
        async with db.transaction(None) as session:
            for event in events:
                await bind_tenant(session, event.tenant_id)
                if await inbox.claim(session, event_id=event.event_id, tenant_id=event.tenant_id):
                    await handle(session, event)

    return handle_batch
