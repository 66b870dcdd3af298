"""Turns notifiable events into queued deliveries inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.defaults import default_channel_ids
from services.notify.domain.idempotency import idempotency_key
from services.notify.domain.messages import message_to_json
from services.notify.domain.notifiable import Notifiable
from services.notify.domain.policy import Policy, Target, plan_targets
from services.notify.domain.records import ChannelRow, ChannelTarget
from services.notify.store.channels import channel_targets, channels_by_id, enabled_channels
from services.notify.store.deliveries import insert_deliveries
from services.notify.store.policies import enabled_policies, policies_for_event
from triage.runtime import is_uuid, new_id


async def create_deliveries(
    session: AsyncSession, *, tenant_id: str, item: Notifiable, now: datetime
) -> list[str]:
    """Queue one delivery per target channel; an existing idempotency key is skipped.

    Disabled channels get a SKIPPED delivery so the decision stays visible. Nothing is
    sent here: workers pick the rows up after the transaction commits.
    """
    policies = await policies_for_event(
        session, tenant_id=tenant_id, event_type=item.facts.event_type
    )
    defaults: dict[str, list[str]] = {}
    if item.facts.default_channels:
        defaults = await _default_channels(session, [tenant_id])
    targets = plan_targets(policies, item.facts, defaults.get(tenant_id, ()))
    if not targets:
        return []
    wanted = [t.channel_id for t in targets if is_uuid(t.channel_id)]
    channels = await channels_by_id(session, tenant_id=tenant_id, channel_ids=wanted)
    rows = _rows(tenant_id, item, targets, channels, now)
    return await insert_deliveries(session, rows)


async def _default_channels(
    session: AsyncSession, tenant_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Per tenant, its default channels (see :func:`default_channel_ids`)."""
    found = await enabled_channels(session, tenant_ids=tenant_ids)
    return {tenant: default_channel_ids(enabled) for tenant, enabled in found.items()}


def _rows(
    tenant_id: str,
    item: Notifiable,
    targets: Sequence[Target],
    channels: Mapping[str, ChannelRow | ChannelTarget],
    now: datetime,
) -> list[dict[str, object]]:
    message = item.message
    rows: list[dict[str, object]] = []
    for target in targets:
        channel = channels.get(target.channel_id)
        if channel is None:
            continue
        disabled = bool(channel.disabled)
        rows.append(
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "channel_id": target.channel_id,
                "channel_kind": channel.kind,
                "destination": channel.destination,
                "policy_id": target.policy_id,
                "rule_id": target.rule_id,
                "event_id": message.event_id,
                "event_type": message.event_type,
                "idempotency_key": idempotency_key(
                    message.event_id, tenant_id, target.channel_id, channel.destination
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


async def create_deliveries_batch(
    session: AsyncSession,
    *,
    items: Sequence[tuple[str, Notifiable]],
    now: datetime,
    policies: Mapping[str, Sequence[Policy]] | None = None,
) -> list[str]:
    """:func:`create_deliveries` for many (tenant, item) pairs, in at most four statements.

    The tenants' policies are read once (or taken from ``policies``) and matched in Python;
    the channels and the delivery inserts are only touched when some item has targets.
    """
    if not items:
        return []
    if policies is None:
        policies = await enabled_policies(
            session, tenant_ids=sorted({tenant for tenant, _ in items})
        )
    defaults: dict[str, list[str]] = {}
    if wanting := sorted({tenant for tenant, item in items if item.facts.default_channels}):
        defaults = await _default_channels(session, wanting)
    planned: list[tuple[str, Notifiable, list[Target]]] = []
    for tenant_id, item in items:
        targets = plan_targets(policies.get(tenant_id, ()), item.facts, defaults.get(tenant_id, ()))
        if targets:
            planned.append((tenant_id, item, targets))
    if not planned:
        return []
    wanted = sorted(
        {t.channel_id for _, _, targets in planned for t in targets if is_uuid(t.channel_id)}
    )
    by_tenant: dict[str, dict[str, ChannelTarget]] = {}
    if wanted:
        by_tenant = await channel_targets(
            session, tenant_ids=sorted({t for t, _, _ in planned}), channel_ids=wanted
        )
    deliveries: list[dict[str, object]] = []
    for tenant_id, item, targets in planned:
        deliveries.extend(_rows(tenant_id, item, targets, by_tenant.get(tenant_id, {}), now))
    return await insert_deliveries(session, deliveries)
