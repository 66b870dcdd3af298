"""Turns one notifiable event into queued deliveries inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import store
from services.notify.convert import message_to_json, policy_from_row
from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.model import NotificationMessage
from services.notify.domain.policy import EventFacts, Policy, Target, plan_targets
from services.notify.models import channels as channels_table
from services.notify.models import policies as policies_table
from triage.runtime import new_id


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
    rows = _rows(tenant_id, item, targets, channels, now)
    return await store.insert_deliveries(session, rows)


def _rows(
    tenant_id: str,
    item: Notifiable,
    targets: Sequence[Target],
    channels: Mapping[str, Any],
    now: datetime,
) -> list[dict[str, Any]]:
    message = item.message
    rows: list[dict[str, Any]] = []
    for target in targets:
        channel = channels.get(target.channel_id)
        if channel is None:
            continue
        disabled = bool(channel["disabled"])
        rows.append(
            {
                "id": new_id(),
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
    return rows


# Prebuilt once: every enabled policy of a set of tenants (the batch's), oldest first, and
# the channels a batch's deliveries name. Matching by event type happens in Python.
_UUIDS = ARRAY(UUID(as_uuid=False))
_ENABLED_POLICIES = (
    select(
        policies_table.c.id,
        policies_table.c.tenant_id,
        policies_table.c.event_types,
        policies_table.c.channel_ids,
        policies_table.c.disabled,
        policies_table.c.filter,
    )
    .where(
        policies_table.c.tenant_id == any_(bindparam("tenants", type_=_UUIDS)),
        policies_table.c.disabled.is_(False),
    )
    .order_by(policies_table.c.created_at, policies_table.c.id)
)
_CHANNELS = select(
    channels_table.c.id,
    channels_table.c.tenant_id,
    channels_table.c.kind,
    channels_table.c.destination,
    channels_table.c.disabled,
).where(
    channels_table.c.tenant_id == any_(bindparam("tenants", type_=_UUIDS)),
    channels_table.c.id == any_(bindparam("ids", type_=_UUIDS)),
)


async def enabled_policies(
    session: AsyncSession, *, tenant_ids: Sequence[str]
) -> dict[str, list[Policy]]:
    """Each tenant's enabled policies, oldest first, in one statement."""
    found: dict[str, list[Policy]] = {t: [] for t in tenant_ids}
    if not tenant_ids:
        return found
    for row in await session.execute(_ENABLED_POLICIES, {"tenants": list(tenant_ids)}):
        found.setdefault(str(row.tenant_id), []).append(policy_from_row(row))
    return found


async def create_deliveries_batch(
    session: AsyncSession,
    *,
    items: Sequence[tuple[str, Notifiable]],
    now: datetime,
    policies: Mapping[str, Sequence[Policy]] | None = None,
) -> list[str]:
    """:func:`create_deliveries` for many (tenant, item) pairs, in at most three statements.

    The tenants' policies are read once (or taken from ``policies``) and matched in Python;
    the channels and the delivery inserts are only touched when some item has targets.
    """
    if not items:
        return []
    if policies is None:
        policies = await enabled_policies(
            session, tenant_ids=sorted({tenant for tenant, _ in items})
        )
    planned: list[tuple[str, Notifiable, list[Target]]] = []
    for tenant_id, item in items:
        targets = plan_targets(policies.get(tenant_id, ()), item.facts)
        if targets:
            planned.append((tenant_id, item, targets))
    if not planned:
        return []
    wanted = sorted(
        {t.channel_id for _, _, targets in planned for t in targets if _uuid(t.channel_id)}
    )
    by_tenant: dict[str, dict[str, Any]] = {}
    if wanted:
        rows = await session.execute(
            _CHANNELS, {"tenants": sorted({t for t, _, _ in planned}), "ids": wanted}
        )
        for row in rows:
            by_tenant.setdefault(str(row.tenant_id), {})[str(row.id)] = row._mapping
    deliveries: list[dict[str, Any]] = []
    for tenant_id, item, targets in planned:
        deliveries.extend(_rows(tenant_id, item, targets, by_tenant.get(tenant_id, {}), now))
    return await store.insert_deliveries(session, deliveries)


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
