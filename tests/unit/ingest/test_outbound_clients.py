"""Provider reset clients over an in-memory transport: requests sent and results read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from services.ingest.clients.resets import (
    DattoClient,
    IntegrationApi,
    NinjaOneClient,
    TokenCache,
    default_clients,
    match_active_alert,
    ninja_source_config_uid,
    reset_blocker,
)
from services.ingest.domain.reset_policy import Verdict

NINJA = IntegrationApi("i-1", "ninjaone", "https://ninja.example/", "cid", "csecret")
DATTO = IntegrationApi("i-2", "datto", "https://datto.example", "key", "secret")
Handler = Callable[[httpx.Request], httpx.Response]


def _http(handler: Handler, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


def _token(request: httpx.Request) -> httpx.Response | None:
    if request.url.path in ("/ws/oauth/token", "/auth/oauth/token"):
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
    return None


def _row(**values: Any) -> dict[str, Any]:
    return {
        "id": "a-1",
        "series_key": "i-1:series-1",
        "source_ref": None,
        "device_id": "42",
        "labels": {},
        "raw_body": orjson.dumps({"seriesUid": "series-1", "sourceConfigUid": "cfg-1"}),
        **values,
    }


async def test_ninjaone_token_request_and_reset_by_source_ref() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(204)

    async with _http(handler, seen) as http:
        result = await NinjaOneClient(TokenCache()).reset(_row(source_ref="u 1"), NINJA, http)
    assert result.verdict is Verdict.SUCCEEDED and result.code == 204
    token, reset = seen
    assert str(token.url) == "https://ninja.example/ws/oauth/token"
    assert dict(httpx.QueryParams(token.content.decode())) == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "csecret",
        "scope": "monitoring management",
    }
    assert reset.method == "POST"
    assert reset.url.raw_path == b"/v2/alert/u%201/reset"
    assert reset.headers["authorization"] == "Bearer tok"


async def test_ninjaone_looks_up_the_uid_among_active_alerts() -> None:
    seen: list[httpx.Request] = []
    active = [
        {"uid": "old", "deviceId": 42, "sourceConfigUid": "cfg-1", "createTime": 1.0},
        {"uid": "new", "deviceId": 42, "sourceConfigUid": "cfg-1", "createTime": 2.0},
        {"uid": "x", "deviceId": 7, "sourceConfigUid": "cfg-1", "createTime": 3.0},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/alerts":
            return httpx.Response(200, json=active)
        return _token(request) or httpx.Response(204)

    async with _http(handler, seen) as http:
        result = await NinjaOneClient(TokenCache()).reset(_row(), NINJA, http)
    assert result.verdict is Verdict.SUCCEEDED
    assert [r.url.path for r in seen] == ["/ws/oauth/token", "/v2/alerts", "/v2/alert/new/reset"]


async def test_ninjaone_without_a_matching_active_alert_is_a_noop_success() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/alerts":
            return httpx.Response(200, json=[])
        return _token(request) or httpx.Response(500)

    async with _http(handler, seen) as http:
        result = await NinjaOneClient(TokenCache()).reset(_row(), NINJA, http)
    assert result.verdict is Verdict.SUCCEEDED
    assert "no longer active at the source" in result.outcome
    assert not [r for r in seen if r.url.path.endswith("/reset")]


async def test_ninjaone_cannot_identify_an_alert_without_uid_or_config() -> None:
    async with _http(lambda r: httpx.Response(500), []) as http:
        result = await NinjaOneClient(TokenCache()).reset(
            _row(raw_body=b"{}", labels={}), NINJA, http
        )
    assert result.verdict is Verdict.PERMANENT and result.code == 0


async def test_rejected_credentials_are_permanent() -> None:
    async with _http(lambda r: httpx.Response(401, json={"error": "invalid_client"}), []) as http:
        result = await NinjaOneClient(TokenCache()).reset(_row(source_ref="u"), NINJA, http)
    assert result.verdict is Verdict.PERMANENT
    assert result.code == 401
    assert result.outcome.startswith("token request: HTTP 401")


async def test_a_refused_cached_token_is_replaced_once() -> None:
    seen: list[httpx.Request] = []
    tokens = iter(["fresh"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ws/oauth/token":
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 3600})
        if request.headers["authorization"] == "Bearer stale":
            return httpx.Response(401)
        return httpx.Response(204)

    cache = TokenCache()
    client = NinjaOneClient(cache)
    async with _http(handler, seen) as http:
        await cache.get(NINJA, lambda: _static("stale"))
        result = await client.reset(_row(source_ref="u"), NINJA, http)
    assert result.verdict is Verdict.SUCCEEDED
    assert [r.url.path for r in seen] == [
        "/v2/alert/u/reset",
        "/ws/oauth/token",
        "/v2/alert/u/reset",
    ]


async def _static(value: str) -> tuple[str, float]:
    return value, 3600.0


async def test_retry_after_and_transport_errors_are_retryable() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(429, headers={"retry-after": "12"})

    async with _http(busy, []) as http:
        result = await NinjaOneClient(TokenCache()).reset(_row(source_ref="u"), NINJA, http)
    assert result.verdict is Verdict.RETRY and result.retry_after == 12.0

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _http(broken, []) as http:
        result = await NinjaOneClient(TokenCache()).reset(_row(source_ref="u"), NINJA, http)
    assert result.verdict is Verdict.RETRY and result.code == 0
    assert result.outcome.startswith("transport error: ConnectError")


async def test_datto_password_grant_and_resolve() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(200, json={})

    async with _http(handler, seen) as http:
        result = await DattoClient(TokenCache()).reset(_row(source_ref="d-1"), DATTO, http)
    assert result.verdict is Verdict.SUCCEEDED
    token, resolve = seen
    assert token.url.path == "/auth/oauth/token"
    assert token.headers["authorization"] == "Basic cHVibGljLWNsaWVudDpwdWJsaWM="
    assert dict(httpx.QueryParams(token.content.decode())) == {
        "grant_type": "password",
        "username": "key",
        "password": "secret",
    }
    assert resolve.url.path == "/api/v2/alert/d-1/resolve"


async def test_datto_needs_an_alert_uid() -> None:
    async with _http(lambda r: httpx.Response(500), []) as http:
        result = await DattoClient(TokenCache()).reset(_row(), DATTO, http)
    assert result.verdict is Verdict.PERMANENT


async def test_token_cache_refreshes_before_expiry_and_per_secret() -> None:
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    fetched: list[str] = []

    async def fetch() -> tuple[str, float]:
        fetched.append("x")
        return f"t{len(fetched)}", 100.0

    assert await cache.get(NINJA, fetch) == ("t1", False)
    now[0] = 60.0
    assert await cache.get(NINJA, fetch) == ("t1", True)
    now[0] = 71.0
    assert await cache.get(NINJA, fetch) == ("t2", False)
    rotated = IntegrationApi("i-1", "ninjaone", "https://ninja.example/", "cid", "new")
    assert await cache.get(rotated, fetch) == ("t3", False)


def test_match_active_alert_compares_ids_as_text() -> None:
    alerts = [{"uid": "a", "deviceId": 42, "sourceConfigUid": "cfg"}]
    assert match_active_alert(alerts, device_id="42", source_config_uid="cfg") == "a"
    assert match_active_alert(alerts, device_id="43", source_config_uid="cfg") is None


def test_source_config_uid_from_a_list_body_or_labels() -> None:
    body = orjson.dumps(
        [
            {"seriesUid": "other", "sourceConfigUid": "cfg-other"},
            {"seriesUid": "series-1", "sourceConfigUid": "cfg-1"},
        ]
    )
    assert ninja_source_config_uid(_row(raw_body=body)) == "cfg-1"
    assert (
        ninja_source_config_uid(_row(raw_body=b"not json", labels={"sourceConfigUid": "l"})) == "l"
    )
    assert ninja_source_config_uid(_row(raw_body=b"[]")) is None


@pytest.mark.parametrize(
    ("provider", "settings", "has_secret", "disabled", "reason"),
    [
        ("ninjaone", {"api": {"base_url": "https://x", "client_id": "c"}}, True, False, None),
        (
            "generic",
            {"api": {"base_url": "https://x", "client_id": "c"}},
            True,
            False,
            "cannot",
        ),
        # Key-only APIs need no client id (issue 17: Tactical RMM and Level reset too).
        ("tacticalrmm", {"api": {"base_url": "https://x"}}, True, False, None),
        ("level", {"api": {"base_url": "https://x"}}, True, False, None),
        ("huntress", {"api": {"base_url": "https://x"}}, True, False, "no provider API"),
        ("ninjaone", {}, True, False, "no provider API"),
        (
            "ninjaone",
            {"api": {"base_url": "https://x", "client_id": "c"}},
            False,
            False,
            "no provider",
        ),
        ("datto", {"api": {"base_url": "https://x", "client_id": "c"}}, True, True, "disabled"),
    ],
)
def test_reset_blocker(
    provider: str,
    settings: dict[str, Any],
    has_secret: bool,
    disabled: bool,
    reason: str | None,
) -> None:
    found = reset_blocker(
        provider=provider,
        settings=settings,
        has_secret=has_secret,
        disabled=disabled,
        clients=default_clients(),
    )
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found
