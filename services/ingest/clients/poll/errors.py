"""What a poll client raises: one root, three families the poll worker acts on.

- ``RateLimited``: the provider said 429; wait ``retry_after_seconds`` (when sent).
- ``TransientPollError``: 5xx, 408, timeouts, connection errors, unreadable bodies; retry
  with back-off.
- ``PermanentPollError``: other 4xx, refused credentials, a bound exceeded; retrying
  unchanged will not help, so surface it on the integration's status.

Whatever was raised, the cycle's list of active alerts is incomplete: the worker must
never synthesize resets from a cycle that raised.
"""

from __future__ import annotations


class PollError(Exception):
    """Root of every poll client failure; ``reason`` is stable, ``status`` the HTTP code."""

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        status: int | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        """Carry a stable reason, a short detail, the HTTP status and any Retry-After."""
        self.reason = reason
        self.detail = detail[:300]
        self.status = status
        self.retry_after_seconds = retry_after_seconds
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{reason}{code}{': ' + self.detail if self.detail else ''}")


class TransientPollError(PollError):
    """Worth retrying later: the provider or the network failed this time."""


class RateLimited(TransientPollError):
    """HTTP 429: retry no sooner than ``retry_after_seconds`` (None when not sent)."""

    def __init__(self, retry_after_seconds: float | None, detail: str = "") -> None:
        """A 429 with the provider's Retry-After in seconds, when it sent one."""
        super().__init__(
            "rate_limited", detail, status=429, retry_after_seconds=retry_after_seconds
        )


class PermanentPollError(PollError):
    """Retrying unchanged will not help (bad credentials, forbidden, not found, bad URL)."""


class PollBoundsExceeded(PermanentPollError):
    """A listing passed a bound (pages, alerts, bytes, time): its result is incomplete."""
