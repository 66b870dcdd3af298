"""Turns one notifiable event into queued deliveries inside the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import store
from services.notify.convert import message_to_json, policy_from_row
from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.model import NotificationMessage
from services.notify.domain.policy import EventFacts, plan_targets


@dataclass(frozen=True, slots=True)
class Notifiable:
    """An event as notify sees it: what to say, what to filter on, what it concerns."""

    message: NotificationMessage
    facts: EventFacts
    ticket_id: str | None = None
    alert_id: str | None = None


async def create_deliveries(
    session: AsyncSession, *, tenant_id: str, item: Notifiable, now: datetime
) -> list[str]:
    """Queue one delivery per target channel; an existing idempotency key is skipped.

    Disabled channels get a SKIPPED delivery so the decision stays visible. Nothing is
    sent here: workers pick the rows up after the transaction commits.
    """
    policies = [
        policy_from_row(r)
        for r in await store.policies_for_event(
            session, tenant_id=tenant_id, event_type=item.facts.event_type
        )
    ]
    targets = plan_targets(policies, item.facts)
    if not targets:
        return []
    wanted = [t.channel_id for t in targets if _uuid(t.channel_id)]
    channels = await store.channels_by_id(session, tenant_id=tenant_id, channel_ids=wanted)
    message = item.message
    rows: list[dict[str, Any]] = []
    for target in targets:
        channel = channels.get(target.channel_id)
        if channel is None:
            continue
        disabled = bool(channel["disabled"])
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "tenant_id": tenant_id,
                "channel_id": target.channel_id,
                "channel_kind": channel["kind"],
                "destination": channel["destination"],
                "policy_id": target.policy_id,
                "rule_id": target.rule_id,
                "event_id": message.event_id,
                "event_type": message.event_type,
                "idempotency_key": idempotency_key(
                    message.event_id, tenant_id, target.channel_id, channel["destination"]
                ),
                "ticket_id": item.ticket_id,
                "alert_id": item.alert_id,
                "subject": message.title[:500],
                "message": message_to_json(message),
                "critical": item.facts.critical,
                "status": "skipped" if disabled else "queued",
                "dead_reason": "channel disabled" if disabled else None,
                "next_attempt_at": None if disabled else now,
                "age_from": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    return await store.insert_deliveries(session, rows)


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
