"""Pure decisions of an outbound reset: HTTP classification, backoff, the next state."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})


class Verdict(StrEnum):
    """What one attempt's answer means for the reset."""

    SUCCEEDED = "succeeded"
    RETRY = "retry"
    PERMANENT = "permanent"


class ResetState(StrEnum):
    """The ``alert_events.reset_state`` values."""

    NOT_REQUESTED = "not_requested"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"

    @property
    def final(self) -> bool:
        """Whether nothing more will happen to the reset."""
        return self not in (ResetState.NOT_REQUESTED, ResetState.PENDING)


@dataclass(frozen=True, slots=True)
class ResetResult:
    """The outcome of one attempt against a provider's API.

    ``code`` is the HTTP status of the decisive response (0 when none was received);
    ``retry_after`` is the provider's ``Retry-After`` in seconds, when it sent one.
    """

    verdict: Verdict
    code: int
    outcome: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The state an attempt leaves the reset in, and when to try again if pending."""

    state: ResetState
    outcome: str
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded attempts, Retry-After honoured."""

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 8
    max_retry_after_seconds: float = 3600.0

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): U(0, ceiling)."""
        exponent = min(max(attempt, 1) - 1, 62)
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0**exponent)
        return ceiling * rand()

    def delay(
        self,
        attempt: int,
        retry_after: float | None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """The wait before the next attempt: never sooner than the provider asked."""
        wait = self.backoff(attempt, rand)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after_seconds))
        return wait


def classify_status(code: int) -> Verdict:
    """2xx succeeded; 408, 429 and 5xx are worth retrying; anything else is permanent."""
    if 200 <= code < 300:
        return Verdict.SUCCEEDED
    if code in RETRYABLE_CLIENT_ERRORS or code >= 500:
        return Verdict.RETRY
    return Verdict.PERMANENT


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def decide(
    result: ResetResult,
    *,
    attempts: int,
    policy: RetryPolicy,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """The state after ``attempts`` attempts, the last of which gave ``result``."""
    if result.verdict is Verdict.SUCCEEDED:
        return Decision(ResetState.SUCCEEDED, result.outcome)
    if result.verdict is Verdict.PERMANENT:
        return Decision(ResetState.FAILED, result.outcome)
    if attempts >= policy.max_attempts:
        return Decision(ResetState.FAILED, f"{result.outcome} (gave up after {attempts} attempts)")
    wait = policy.delay(attempts, result.retry_after, rand)
    return Decision(ResetState.PENDING, result.outcome, now + timedelta(seconds=wait))


def describe(code: int, detail: str = "") -> str:
    """``HTTP 404 alert not found``: the status and a short single-line detail."""
    words = " ".join(detail.split())[:200]
    return f"HTTP {code} {words}".rstrip()


def initial_state(*, latest_is_reset: bool, blocker: str | None) -> tuple[ResetState, str]:
    """What a close asking for a reset does to the series' latest trigger."""
    if latest_is_reset:
        return ResetState.SKIPPED, "already reset at the source"
    if blocker is not None:
        return ResetState.UNSUPPORTED, blocker
    return ResetState.PENDING, "waiting for the first attempt"


@dataclass(frozen=True, slots=True)
class ClosedTicket:
    """What ingest needs of a ``ticket.closed``: which series, and whether to reset them."""

    ticket_id: str
    reset_alert: bool
    series_keys: tuple[str, ...]
