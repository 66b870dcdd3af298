"""Retry decisions: which failures are permanent, how long to wait, when to give up."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from services.notify.domain.model import ErrorClass

DEFAULT_MAX_AGE = timedelta(hours=24)


class UniformRandom(Protocol):
    """The one method of `random.Random` that backoff needs."""

    def uniform(self, a: float, b: float, /) -> float:
        """Return a float in [a, b]."""
        ...


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def classify_http(status: int, headers: Mapping[str, str]) -> tuple[bool, ErrorClass | None]:
    """Classify an HTTP status as (permanent, error class); 2xx gives (False, None).

    4xx other than 408/429 are permanent. A 403 that carries `Retry-After` or
    `X-RateLimit-Remaining: 0` is a rate limit (GitHub-style APIs answer so), not
    bad credentials. 3xx are permanent: a signed POST is not followed to another
    address, the channel's URL must be fixed.
    """
    if 200 <= status < 300:
        return False, None
    if status == 403 and (
        _header(headers, "retry-after") is not None
        or (_header(headers, "x-ratelimit-remaining") or "").strip() == "0"
    ):
        return False, ErrorClass.RATE_LIMITED
    if status == 408:
        return False, ErrorClass.TIMEOUT
    if status == 429:
        return False, ErrorClass.RATE_LIMITED
    if status in (401, 403, 407):
        return True, ErrorClass.AUTH
    if status in (404, 410):
        return True, ErrorClass.NOT_FOUND
    if 300 <= status < 500:
        return True, ErrorClass.INVALID_CONFIG
    return False, ErrorClass.SERVER_ERROR


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Parse a Retry-After value (delta seconds or HTTP date) into seconds from `now`.

    Unparseable values give None; dates in the past give 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_attempt_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | str | None,
    rng: UniformRandom,
    now: datetime | None = None,
) -> float:
    """Seconds to wait before the next attempt, `attempt` counting failures from 0.

    Full jitter: uniform in [0, min(cap, base * 2**attempt)]. A Retry-After (seconds,
    or an HTTP date resolved against `now`) is a floor the delay never goes below.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be >= 0")
    ceiling = cap if attempt >= 64 else min(cap, base * 2.0**attempt)
    delay = rng.uniform(0.0, ceiling)
    if isinstance(retry_after, str):
        floor = parse_retry_after(retry_after, now or datetime.now(UTC))
    else:
        floor = retry_after
    if floor is not None and floor > delay:
        return float(floor)
    return delay


def should_give_up(
    first_attempt_at: datetime, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE
) -> bool:
    """True once a delivery has been retried for `max_age` (default 24 h)."""
    return now - first_attempt_at >= max_age
