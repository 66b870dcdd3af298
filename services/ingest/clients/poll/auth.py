"""OAuth access tokens for the providers that use them (NinjaOne, Datto RMM)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .errors import PermanentPollError, TransientPollError
from .http import Reply, require_ok

#: Refresh this long before the provider's stated expiry, so a token never dies in flight.
EXPIRY_MARGIN_SECONDS = 30.0
DEFAULT_LIFETIME_SECONDS = 300.0

TokenFetch = Callable[[], Awaitable[tuple[str, float]]]


class BearerToken:
    """One integration's access token: fetched on first use, refreshed before expiry or
    after the provider refuses it. One fetch at a time, however many callers wait."""

    def __init__(self, fetch: TokenFetch, clock: Callable[[], float] = time.monotonic) -> None:
        """``fetch`` returns (token, lifetime in seconds); ``clock`` is monotonic seconds."""
        self._fetch = fetch
        self._clock = clock
        self._value: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> tuple[str, bool]:
        """A valid token, and whether it was fetched just now (a 401 on it is final)."""
        if self._value is not None and self._clock() < self._expires_at:
            return self._value, False
        async with self._lock:
            if self._value is not None and self._clock() < self._expires_at:
                return self._value, False
            value, lifetime = await self._fetch()
            self.fetches += 1
            self._value = value
            self._expires_at = self._clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)
            return value, True

    def invalidate(self) -> None:
        """Forget the token (the provider answered 401 with it)."""
        self._value = None
        self._expires_at = 0.0


def token_from(reply: Reply) -> tuple[str, float]:
    """(access_token, expires_in) from a token endpoint's answer.

    A refused grant (400/401) means the configured credentials are wrong: permanent.
    """
    if reply.status in (400, 401):
        raise PermanentPollError("token_refused", reply.text(), status=reply.status)
    require_ok(reply, "token request")
    body = reply.json()
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TransientPollError("unreadable_token", "no access_token", status=reply.status)
    try:
        lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME_SECONDS
    return token, lifetime
