from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.integration.notify.harness import Harness
from tests.integration.notify.receivers import HttpReceiver


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., HttpReceiver]]:
    made: list[HttpReceiver] = []

    def make(**kwargs: Any) -> HttpReceiver:
        receiver = HttpReceiver(free_port(), **kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


@pytest.fixture
async def harness(fresh_db: str, nats_url: str) -> AsyncIterator[Harness]:
    started = await Harness.start(fresh_db, nats_url)
    try:
        yield started
    finally:
        await started.stop()
