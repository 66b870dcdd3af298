from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.notify.domain.model import NotificationMessage
from tests.integration.notify_channels.servers import Pki, Receiver, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def start_receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared


@pytest.fixture
def message() -> NotificationMessage:
    return NotificationMessage(
        event_id="evt-7c1d",
        event_type="ticket.opened",
        tenant_id="tenant-a",
        occurred_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        severity=4,
        priority=2,
        title="Festplatte C: fast voll – ACME-DC01",
        body="Free space 2% (threshold 5%)",
        url="https://triage.example/tickets/T-1042",
        fields={"Ticket": "T-1042", "Client": "Acme", "Device": "ACME-DC01"},
    )
