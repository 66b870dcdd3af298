"""Per-channel circuit breaker as an immutable value with pure transitions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.notify.domain.model import AttemptResult, ErrorClass


class BreakerState(StrEnum):
    """Closed lets everything through, open nothing, half-open one probe."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When to open and how long to stay open before probing."""

    failure_threshold: int = 5
    cool_down: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if self.cool_down <= timedelta(0):
            raise ValueError("cool_down must be positive")


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """Breaker state of one channel; every transition returns a new value.

    A half-open probe holds a lease of one cool-down: if its result is never
    recorded (the worker died), another probe is allowed after the lease ends.
    """

    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    probe_started_at: datetime | None = None

    def acquire(self, now: datetime, policy: BreakerPolicy) -> tuple[bool, CircuitBreaker]:
        """Ask to send one attempt now; returns (allowed, next state)."""
        if self.state is BreakerState.CLOSED:
            return True, self
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if now < self.opened_at + policy.cool_down:
                return False, self
            return True, replace(self, state=BreakerState.HALF_OPEN, probe_started_at=now)
        if self.probe_started_at is None or now >= self.probe_started_at + policy.cool_down:
            return True, replace(self, probe_started_at=now)
        return False, self

    def record_success(self) -> CircuitBreaker:
        """A successful attempt closes the breaker and clears the failure count."""
        return CircuitBreaker()

    def record_failure(self, now: datetime, policy: BreakerPolicy) -> CircuitBreaker:
        """A failed attempt: count it, open at the threshold, re-open on a failed probe."""
        failures = self.consecutive_failures + 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and failures >= policy.failure_threshold
        ):
            return CircuitBreaker(
                state=BreakerState.OPEN, consecutive_failures=failures, opened_at=now
            )
        return replace(self, consecutive_failures=failures)

    def retry_at(self, policy: BreakerPolicy) -> datetime | None:
        """When an open breaker will next allow a probe (None unless open)."""
        if self.state is BreakerState.OPEN and self.opened_at is not None:
            return self.opened_at + policy.cool_down
        if self.state is BreakerState.HALF_OPEN and self.probe_started_at is not None:
            return self.probe_started_at + policy.cool_down
        return None


def counts_against_channel(result: AttemptResult) -> bool:
    """Whether an attempt's outcome should move the breaker towards open.

    A template or configuration error says nothing about the receiver's health.
    """
    return not result.ok and result.error_class is not ErrorClass.INVALID_CONFIG
