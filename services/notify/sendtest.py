"""What a test send must respect: a disabled channel and an open breaker; and its message.

A test send that ignored them let an operator hammer a receiver the breaker was resting,
and answered "delivered" for a channel that would never deliver.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.convert import ChannelSpec
from services.notify.domain.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from services.notify.domain.model import AttemptResult, NotificationMessage
from services.notify.models import channel_state
from triage.runtime import ERROR_DOMAIN, FailedPrecondition, Unavailable


class ChannelResting(Unavailable):
    """The channel's breaker is open: no send (not even a test) until ``retry_at``."""

    reason = "CHANNEL_BREAKER_OPEN"

    def __init__(self, message: str, *, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def check_sendable(
    session: AsyncSession, *, row: Any, now: datetime, policy: BreakerPolicy
) -> None:
    """FAILED_PRECONDITION for a disabled channel; :class:`ChannelResting` while its
    breaker would not let an attempt through."""
    if row["disabled"]:
        raise FailedPrecondition(
            f"channel {row['id']} is disabled; enable it to send", reason="CHANNEL_DISABLED"
        )
    state = (
        await session.execute(
            select(*channel_state.c).where(channel_state.c.channel_id == row["id"])
        )
    ).first()
    if state is None:
        return
    breaker = CircuitBreaker(
        state=BreakerState(state.breaker_state or "closed"),
        consecutive_failures=int(state.consecutive_failures or 0),
        opened_at=state.opened_at,
        probe_started_at=state.probe_started_at,
    )
    allowed, _ = breaker.acquire(now, policy)
    if not allowed:
        retry_at = breaker.retry_at(policy) or now + policy.cool_down
        wait = max(retry_at - now, timedelta(seconds=1))
        raise ChannelResting(
            f"channel {row['id']} is failing and resting (circuit {breaker.state.value}); "
            f"retry after {math.ceil(wait.total_seconds())} s",
            retry_after=wait,
        )


def resting_status(error: ChannelResting) -> status_pb2.Status:
    """UNAVAILABLE with ErrorInfo and google.rpc.RetryInfo (when to try again)."""
    info, retry = any_pb2.Any(), any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    delay = duration_pb2.Duration()
    delay.FromTimedelta(error.retry_after)
    retry.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status_pb2.Status(
        code=code_pb2.UNAVAILABLE, message=error.message, details=[info, retry]
    )


def retry_after_note(result: AttemptResult) -> str:
    """The receiver's Retry-After as text for the error message ("" when none)."""
    if result.ok or result.retry_after is None:
        return ""
    return f" (the receiver asked to retry after {math.ceil(result.retry_after)} s)"


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
