"""From the wire to a batch: how a reader gathers messages, decodes them, and tells a
failing database from a failing event."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.msg import Msg
from sqlalchemy.exc import DBAPIError

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.events import ReceivedEvent


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


async def gather(
    sub: Any, *, batch_size: int, first_timeout: float, linger: float, arrivals: ArrivalRate
) -> list[Msg]:
    """Wait for one message, then gather a batch if events stream, else go at once.

    While events arrive fast enough for one to be expected within the linger, the rest of a
    batch is gathered for up to the linger (each batch is one transaction). On a quiet
    stream an event goes on at once, with only what is already waiting: a pull request for
    more than the server holds stays open until it expires.
    """
    first: list[Msg] = await sub.fetch(1, timeout=first_timeout)
    if batch_size == 1:
        return first
    if arrivals.per_second() * linger >= 1.0:
        wanted, timeout = batch_size - 1, linger
    else:
        wanted = min(batch_size - 1, first[0].metadata.num_pending or 0)
        timeout = 0.02
        if wanted <= 0:
            arrivals.add(1)
            return first
    try:
        more: list[Msg] = await sub.fetch(wanted, timeout=timeout)
    except (TimeoutError, nats.errors.TimeoutError):
        more = []
    arrivals.add(1 + len(more))
    return first + more


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable (not that the event is bad)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    name = type(getattr(exc, "orig", exc)).__name__
    return name in {"OperationalError", "InterfaceError", "ConnectionTimeout", "PoolTimeout"}


def decode(msg: Msg) -> ReceivedEvent | None:
    """The message as a received event; None if it holds no valid envelope."""
    envelope = Envelope()
    try:
        envelope.ParseFromString(msg.data)
    except Exception:
        return None
    if not envelope.event_id or not envelope.tenant_id:
        return None
    return ReceivedEvent(
        envelope=envelope,
        subject=msg.subject,
        headers=dict(msg.headers or {}),
        num_delivered=msg.metadata.num_delivered,
    )
