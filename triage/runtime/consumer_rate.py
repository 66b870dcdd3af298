"""A decayed estimate of how fast events arrive (whether a consumer lingers for a batch)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class ArrivalRate:
    """Events per second, averaged over the last ``horizon`` seconds (exponential decay)."""

    def __init__(self, horizon: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._horizon = horizon
        self._clock = clock
        self._rate = 0.0
        self._at = clock()

    def _decayed(self, now: float) -> float:
        return self._rate * math.exp(-(now - self._at) / self._horizon)

    def add(self, count: int) -> None:
        """Count ``count`` events arriving now."""
        now = self._clock()
        self._rate = self._decayed(now) + count / self._horizon
        self._at = now

    def per_second(self) -> float:
        """The current estimate."""
        return self._decayed(self._clock())
