"""The bounded exchange and status classification shared by every poll client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.ingest.clients.poll import (
    Bounds,
    PermanentPollError,
    PollBoundsExceeded,
    PollCredentials,
    TransientPollError,
    retry_after_seconds,
)
from services.ingest.clients.poll.http import exchange, same_origin
from services.ingest.clients.poll.tacticalrmm import TacticalRmmClient

NOW = datetime(2025, 3, 19, 12, 0, tzinfo=UTC)


def test_retry_after_delta_seconds() -> None:
    assert retry_after_seconds("120", NOW) == 120.0


def test_retry_after_http_date() -> None:
    assert retry_after_seconds("Wed, 19 Mar 2025 12:05:00 GMT", NOW) == 300.0


def test_retry_after_in_the_past_is_zero() -> None:
    assert retry_after_seconds("Wed, 19 Mar 2025 11:00:00 GMT", NOW) == 0.0


def test_retry_after_is_capped_at_an_hour() -> None:
    assert retry_after_seconds("86400", NOW) == 3600.0


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "-5", "1.5"])
def test_retry_after_unreadable_is_none(value: str | None) -> None:
    assert retry_after_seconds(value, NOW) is None


def test_same_origin() -> None:
    assert same_origin(
        "https://merlot-api.centrastage.net/api/v2/x?page=2", "https://merlot-api.centrastage.net"
    )
    assert not same_origin("https://evil.example/api/v2/x", "https://merlot-api.centrastage.net")
    assert not same_origin(
        "http://merlot-api.centrastage.net/x", "https://merlot-api.centrastage.net"
    )


async def _endless() -> AsyncIterator[bytes]:
    while True:
        yield b"x" * 1024


async def test_undeclared_length_is_bounded_while_streaming() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=_endless()))
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(PollBoundsExceeded) as raised:
            await exchange(
                http, "GET", "http://rmm.fake/x", bounds=Bounds(max_response_bytes=10_000)
            )
    assert raised.value.reason == "response_too_large"


async def test_connection_refused_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        client = TacticalRmmClient(PollCredentials("http://rmm.fake", secret="k"), http)
        with pytest.raises(TransientPollError) as raised:
            await client.list_active()
    assert raised.value.reason == "connection_error"


async def test_a_silent_provider_times_out_within_the_request_bound() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        client = TacticalRmmClient(
            PollCredentials("http://rmm.fake", secret="k"),
            http,
            bounds=Bounds(request_seconds=0.05),
        )
        with pytest.raises(TransientPollError) as raised:
            await client.list_active()
    assert raised.value.reason == "timeout"


async def test_a_base_url_without_scheme_is_permanent() -> None:
    async with httpx.AsyncClient() as http:
        client = TacticalRmmClient(PollCredentials("rmm.fake", secret="k"), http)
        with pytest.raises(PermanentPollError) as raised:
            await client.list_active()
    assert raised.value.reason == "bad_base_url"
