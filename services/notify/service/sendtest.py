"""What a test send must respect: a disabled channel and an open breaker; and its message.

A test send that ignored them let an operator hammer a receiver the breaker was resting,
and answered "delivered" for a channel that would never deliver.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.breaker import BreakerPolicy
from services.notify.domain.channel import ChannelSpec
from services.notify.domain.model import NotificationMessage
from services.notify.domain.records import ChannelRow
from services.notify.errors import ChannelDisabled, ChannelResting
from services.notify.service.jobs import breaker_of
from services.notify.store.channel_state import get_state


async def check_sendable(
    session: AsyncSession, *, row: ChannelRow, now: datetime, policy: BreakerPolicy
) -> None:
    """FAILED_PRECONDITION for a disabled channel; :class:`ChannelResting` while its
    breaker would not let an attempt through."""
    if row.disabled:
        raise ChannelDisabled(row.id)
    state = await get_state(session, channel_id=row.id)
    if state is None:
        return
    breaker = breaker_of(state)
    allowed, _ = breaker.acquire(now, policy)
    if not allowed:
        retry_at = breaker.retry_at(policy) or now + policy.cool_down
        wait = max(retry_at - now, timedelta(seconds=1))
        raise ChannelResting(
            f"channel {row.id} is failing and resting (circuit {breaker.state.value}); "
            f"retry after {math.ceil(wait.total_seconds())} s",
            retry_after=wait,
        )


def sample_message(
    spec: ChannelSpec, *, tenant_id: str, text: str, now: datetime
) -> NotificationMessage:
    """The synthetic message a test send carries."""
    return NotificationMessage(
        event_id=f"test-{uuid.uuid4()}",
        event_type="notify.test",
        tenant_id=tenant_id,
        occurred_at=now,
        severity=1,
        title=f"Triage test notification for {spec.display_name}",
        body=text or "This is a test notification from Triage. No action is needed.",
        fields={"Channel": spec.display_name},
    )
