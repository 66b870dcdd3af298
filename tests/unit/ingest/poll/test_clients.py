"""Every poll client against its fake provider API: the behaviour they share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from services.ingest.clients.poll import (
    CAPABILITIES,
    Bounds,
    Capability,
    PermanentPollError,
    PollBoundsExceeded,
    PollClient,
    RateLimited,
    TransientPollError,
    client_for,
)
from tests.fakes.rmm import FakeApi

from .cases import CASES, OAUTH, PAGED, Case


@asynccontextmanager
async def polling(
    case: Case, fake: FakeApi, bounds: Bounds | None = None
) -> AsyncIterator[PollClient]:
    """A poll client for ``case`` wired to ``fake`` in-process."""
    async with fake.client() as http:
        yield client_for(case.provider, case.credentials, http, bounds=bounds)


def seeded(case: Case, count: int) -> FakeApi:
    """The case's fake with ``count`` active alerts."""
    fake = case.fake()
    fake.alerts = [case.alert(i) for i in range(count)]
    return fake


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_lists_every_active_alert_with_its_id(case: Case) -> None:
    fake = seeded(case, 3)
    async with polling(case, fake) as client:
        alerts = await client.list_active()
    assert sorted(a.alert_id for a in alerts) == sorted(case.alert_id(i) for i in range(3))
    assert {a.provider for a in alerts} == {case.provider}
    assert all(a.delivery_key and a.body().startswith(b"{") for a in alerts)


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_empty_provider_lists_nothing(case: Case) -> None:
    async with polling(case, case.fake()) as client:
        assert await client.list_active() == []


@pytest.mark.parametrize("case", PAGED, ids=str)
async def test_follows_every_page(case: Case) -> None:
    fake = seeded(case, 7)
    fake.page_cap = 2  # type: ignore[attr-defined]
    async with polling(case, fake) as client:
        alerts = await client.list_active()
    assert len({a.alert_id for a in alerts}) == 7
    # Four pages of two, plus one empty page per further listing.
    assert len(fake.api_calls("GET", case.list_path)) == 4 + case.listings - 1


@pytest.mark.parametrize("case", PAGED, ids=str)
async def test_page_bound_stops_a_listing_that_never_ends(case: Case) -> None:
    fake = seeded(case, 7)
    fake.page_cap = 2  # type: ignore[attr-defined]
    async with polling(case, fake, Bounds(max_pages=3)) as client:
        with pytest.raises(PollBoundsExceeded) as raised:
            await client.list_active()
    assert raised.value.reason == "too_many_pages"


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_alert_bound(case: Case) -> None:
    async with polling(case, seeded(case, 5), Bounds(max_alerts=4)) as client:
        with pytest.raises(PollBoundsExceeded) as raised:
            await client.list_active()
    assert raised.value.reason == "too_many_alerts"


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_response_size_bound(case: Case) -> None:
    async with polling(case, seeded(case, 5), Bounds(max_response_bytes=1000)) as client:
        with pytest.raises(PollBoundsExceeded) as raised:
            await client.list_active()
    assert raised.value.reason == "response_too_large"


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_429_raises_rate_limited_with_retry_after_seconds(case: Case) -> None:
    fake = seeded(case, 1)
    fake.fail_next(429, retry_after="7", path_prefix=case.list_path)
    async with polling(case, fake) as client:
        with pytest.raises(RateLimited) as raised:
            await client.list_active()
        assert raised.value.retry_after_seconds == 7.0
        assert [a.alert_id for a in await client.list_active()] == [case.alert_id(0)]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_429_with_an_http_date(case: Case) -> None:
    fake = seeded(case, 1)
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=30), usegmt=True)
    fake.fail_next(429, retry_after=later, path_prefix=case.list_path)
    async with polling(case, fake) as client:
        with pytest.raises(RateLimited) as raised:
            await client.list_active()
    wait = raised.value.retry_after_seconds
    assert wait is not None and 1500 < wait <= 1800


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("status", [500, 502, 503, 408])
async def test_5xx_is_transient(case: Case, status: int) -> None:
    fake = seeded(case, 1)
    fake.fail_next(status, path_prefix=case.list_path)
    async with polling(case, fake) as client:
        with pytest.raises(TransientPollError) as raised:
            await client.list_active()
    assert raised.value.status == status
    assert not isinstance(raised.value, RateLimited)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_other_4xx_is_permanent(case: Case, status: int) -> None:
    fake = seeded(case, 1)
    fake.fail_next(status, path_prefix=case.list_path)
    async with polling(case, fake) as client:
        with pytest.raises(PermanentPollError) as raised:
            await client.list_active()
    assert raised.value.status == status


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_unreadable_body_is_transient(case: Case) -> None:
    fake = seeded(case, 1)
    fake.fail_next(200, body=b"<html>maintenance</html>", path_prefix=case.list_path)
    async with polling(case, fake) as client:
        with pytest.raises(TransientPollError) as raised:
            await client.list_active()
    assert raised.value.reason == "unreadable_response"


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_wrong_credentials_are_permanent(case: Case) -> None:
    wrong = replace(case, credentials=replace(case.credentials, secret="wrong"))
    async with polling(wrong, seeded(case, 1)) as client:
        with pytest.raises(PermanentPollError) as raised:
            await client.list_active()
    assert raised.value.reason in {"unauthorized", "token_refused"}


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_missing_credentials_refused_at_construction(case: Case) -> None:
    empty = replace(case, credentials=replace(case.credentials, secret=""))
    with pytest.raises(PermanentPollError) as raised:
        async with polling(empty, case.fake()):
            pass
    assert raised.value.reason == "missing_credentials"


@pytest.mark.parametrize("case", OAUTH, ids=str)
async def test_expired_token_is_refreshed_once_and_reused(case: Case) -> None:
    fake = seeded(case, 2)
    fake.token_lifetime_calls = 1
    async with polling(case, fake) as client:
        first = await client.list_active()
        second = await client.list_active()
    assert len(first) == len(second) == 2
    assert fake.tokens_issued == 2
    assert fake.token_calls == 2


@pytest.mark.parametrize("case", OAUTH, ids=str)
async def test_token_is_cached_between_listings(case: Case) -> None:
    fake = seeded(case, 1)
    async with polling(case, fake) as client:
        for _ in range(3):
            await client.list_active()
    assert fake.token_calls == 1


@pytest.mark.parametrize("case", OAUTH, ids=str)
async def test_401_on_a_fresh_token_is_permanent(case: Case) -> None:
    fake = seeded(case, 1)
    fake.token_lifetime_calls = 0
    async with polling(case, fake) as client:
        with pytest.raises(PermanentPollError) as raised:
            await client.list_active()
    assert raised.value.reason == "unauthorized"
    assert fake.token_calls == 1


@pytest.mark.parametrize("case", OAUTH, ids=str)
async def test_token_endpoint_down_is_transient(case: Case) -> None:
    fake = seeded(case, 1)
    assert fake.token_path is not None
    fake.fail_next(503, path_prefix=fake.token_path)
    # Injected failures skip the token path unless it is named: name it explicitly.
    fake.token_path, path = None, fake.token_path
    async with polling(case, fake) as client:
        with pytest.raises(TransientPollError):
            await client.list_active()
    fake.token_path = path


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_resolve_reaches_the_provider(case: Case) -> None:
    assert Capability.RESOLVE in CAPABILITIES[case.provider]
    fake = seeded(case, 2)
    async with polling(case, fake) as client:
        await client.resolve(case.alert_id(1))
        remaining = await client.list_active()
    assert fake.resolved == [case.alert_id(1)]
    assert [a.alert_id for a in remaining] == [case.alert_id(0)]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_resolve_of_an_unknown_alert_is_permanent(case: Case) -> None:
    async with polling(case, seeded(case, 1)) as client:
        with pytest.raises(PermanentPollError) as raised:
            await client.resolve(case.alert_id(9))
    assert raised.value.status == 404


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_resolve_429_is_rate_limited(case: Case) -> None:
    fake = seeded(case, 1)
    fake.fail_next(429, retry_after="3", path_prefix=case.resolve_path)
    async with polling(case, fake) as client:
        with pytest.raises(RateLimited):
            await client.resolve(case.alert_id(0))
    assert fake.resolved == []


async def test_unknown_provider_has_no_client() -> None:
    case = CASES[0]
    async with case.fake().client() as http:
        with pytest.raises(PermanentPollError):
            client_for("ncentral", case.credentials, http)
    assert "ncentral" not in CAPABILITIES
