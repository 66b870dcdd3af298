"""Per-channel token bucket as an immutable value."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class TokenBucket:
    """Up to `capacity` sends in a burst, refilled at `refill_per_second`."""

    capacity: float
    refill_per_second: float
    tokens: float
    updated_at: datetime

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be >= 1")
        if self.refill_per_second <= 0:
            raise ValueError("refill_per_second must be positive")

    @classmethod
    def full(cls, capacity: float, refill_per_second: float, now: datetime) -> TokenBucket:
        """A bucket that starts with every token available."""
        return cls(capacity, refill_per_second, float(capacity), now)

    @classmethod
    def per_period(cls, count: int, period: timedelta, now: datetime) -> TokenBucket:
        """`count` sends per `period` (e.g. 10 per minute), all available in a burst."""
        return cls.full(count, count / period.total_seconds(), now)

    def refilled(self, now: datetime) -> TokenBucket:
        """The bucket as it stands at `now` (time never flows backwards)."""
        elapsed = max(0.0, (now - self.updated_at).total_seconds())
        tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        return replace(self, tokens=tokens, updated_at=max(now, self.updated_at))

    def take(self, now: datetime, n: float = 1) -> tuple[bool, TokenBucket]:
        """Try to spend `n` tokens at `now`; returns (allowed, next state)."""
        current = self.refilled(now)
        if current.tokens + 1e-9 >= n:
            return True, replace(current, tokens=max(0.0, current.tokens - n))
        return False, current

    def available_at(self, now: datetime, n: float = 1) -> datetime:
        """The earliest instant at which `n` tokens will be available."""
        if n > self.capacity:
            raise ValueError("n exceeds the bucket's capacity")
        current = self.refilled(now)
        missing = n - current.tokens
        if missing <= 0:
            return current.updated_at
        return current.updated_at + timedelta(seconds=missing / self.refill_per_second)
