"""OAuth tokens are refreshed before they expire, not only after a 401."""

from __future__ import annotations

import pytest

from services.ingest.clients.poll import DattoClient, NinjaOneClient, PollCredentials
from services.ingest.clients.poll.base import OAuthPollClient
from tests.fakes.rmm import FakeApi, FakeDatto, FakeNinjaOne


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("fake_type", "client_type", "credentials"),
    [
        (
            FakeNinjaOne,
            NinjaOneClient,
            PollCredentials(FakeApi.origin, "ninja-client", "ninja-secret"),
        ),
        (FakeDatto, DattoClient, PollCredentials(FakeApi.origin, "datto-key", "datto-secret")),
    ],
    ids=["ninjaone", "datto"],
)
async def test_token_is_refreshed_shortly_before_its_expiry(
    fake_type: type[FakeApi], client_type: type[OAuthPollClient], credentials: PollCredentials
) -> None:
    fake = fake_type()
    fake.expires_in = 120
    clock = Clock()
    async with fake.client() as http:
        client = client_type(credentials, http, clock=clock)
        await client.list_active()
        clock.now += 89  # 120 s minus the 30 s margin: still valid
        await client.list_active()
        assert fake.token_calls == 1
        clock.now += 2
        await client.list_active()
    assert fake.token_calls == 2
    assert [c.headers["authorization"] for c in fake.api_calls()] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]
