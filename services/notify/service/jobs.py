"""The delivery worker's value types: its options, a claimed job, a locked channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.notify.domain.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from services.notify.domain.channel import ChannelSettings
from services.notify.domain.model import ChannelKind, NotificationMessage
from services.notify.domain.records import ChannelRow, ChannelStateRow
from services.notify.domain.retry import DEFAULT_MAX_AGE


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Tuning of the delivery worker (tests shrink the times)."""

    batch_size: int = 64
    #: Sends running at once, in all and per channel: one slow endpoint holds only its own.
    max_in_flight: int = 64
    per_channel_in_flight: int = 4
    idle_poll_seconds: float = 1.0
    lease: timedelta = timedelta(minutes=2)
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 600.0
    max_age: timedelta = DEFAULT_MAX_AGE
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    retention: timedelta = timedelta(days=90)
    cleanup_interval_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed delivery, ready to send outside any transaction."""

    delivery_id: str
    tenant_id: str
    lease_token: str
    number: int
    channel_id: str
    channel_name: str
    kind: ChannelKind
    config: Mapping[str, Any]
    secrets: Mapping[str, str]
    message: NotificationMessage
    key: str
    age_from: datetime


@dataclass
class ClaimedChannel:
    """A channel locked by a claim: its row, settings and (changed) breaker/bucket state."""

    row: ChannelRow
    settings: ChannelSettings
    state: ChannelStateRow
    changed: bool = False


def breaker_of(state: ChannelStateRow) -> CircuitBreaker:
    """The circuit breaker a state row stores."""
    return CircuitBreaker(
        state=BreakerState(state.breaker_state or "closed"),
        consecutive_failures=int(state.consecutive_failures or 0),
        opened_at=state.opened_at,
        probe_started_at=state.probe_started_at,
    )
