"""Provider API clients that reset (clear) an alert in the RMM, behind one Protocol."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import orjson

from services.ingest.domain.records import PROVIDER_CAPABILITIES
from services.ingest.domain.reset_policy import (
    ResetResult,
    Verdict,
    classify_status,
    describe,
    parse_retry_after,
)

TOKEN_EXPIRY_MARGIN_SECONDS = 30.0
DEFAULT_TOKEN_LIFETIME_SECONDS = 300.0
NINJAONE_SCOPE = "monitoring management"
DATTO_BASIC_AUTH = ("public-client", "public")
#: Providers whose API takes the key alone (no client id).
KEY_ONLY_APIS = frozenset({"tacticalrmm", "level"})


@dataclass(frozen=True, slots=True)
class IntegrationApi:
    """Where and as whom to call a provider's API for one integration."""

    integration_id: str
    provider: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)

    @property
    def root(self) -> str:
        """The base URL without a trailing slash."""
        return self.base_url.rstrip("/")


class ResetClient(Protocol):
    """Resets one stored alert in its RMM."""

    async def reset(
        self, alert_row: Mapping[str, Any], integration_api: IntegrationApi, http: httpx.AsyncClient
    ) -> ResetResult:
        """Reset the alert of ``alert_row``; transport failures come back as RETRY results."""
        ...


class ProviderFailure(Exception):
    """A step before the reset call failed; carries the attempt's result."""

    def __init__(self, result: ResetResult) -> None:
        super().__init__(result.outcome)
        self.result = result


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """OAuth access tokens per (provider, URL, client, secret), kept until shortly before expiry.

    One fetch per key at a time, so a burst of resets asks for one token.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def key(api: IntegrationApi) -> str:
        """The cache key: a rotated secret gets a fresh token."""
        digest = hashlib.sha256(api.client_secret.encode()).hexdigest()[:16]
        return f"{api.provider}|{api.root}|{api.client_id}|{digest}"

    async def get(
        self, api: IntegrationApi, fetch: Callable[[], Awaitable[tuple[str, float]]]
    ) -> tuple[str, bool]:
        """A valid token, and whether it came from the cache; ``fetch`` gives (token, ttl)."""
        key = self.key(api)
        cached = self._tokens.get(key)
        if cached is not None and cached.expires_at > self._clock():
            return cached.value, True
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at > self._clock():
                return cached.value, True
            value, ttl = await fetch()
            lifetime = max(0.0, ttl - TOKEN_EXPIRY_MARGIN_SECONDS)
            self._tokens[key] = _Token(value, self._clock() + lifetime)
            return value, False

    def invalidate(self, api: IntegrationApi) -> None:
        """Forget the token of ``api`` (the provider refused it)."""
        self._tokens.pop(self.key(api), None)


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))


def result_of(response: httpx.Response, step: str = "") -> ResetResult:
    """The attempt's result for a provider's answer (``step`` names a preparatory call)."""
    detail = "" if 200 <= response.status_code < 300 else response.text
    outcome = describe(response.status_code, detail)
    return ResetResult(
        verdict=classify_status(response.status_code),
        code=response.status_code,
        outcome=f"{step}: {outcome}" if step else outcome,
        retry_after=_retry_after(response),
    )


def _require_ok(response: httpx.Response, step: str) -> None:
    if not 200 <= response.status_code < 300:
        raise ProviderFailure(result_of(response, step))


def _token_from(response: httpx.Response, step: str) -> tuple[str, float]:
    _require_ok(response, step)
    try:
        body = response.json()
        token = str(body["access_token"])
        ttl = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderFailure(
            ResetResult(Verdict.RETRY, response.status_code, f"{step}: unreadable token response")
        ) from exc
    return token, ttl


async def _guarded(call: Callable[[], Awaitable[ResetResult]]) -> ResetResult:
    try:
        return await call()
    except ProviderFailure as failure:
        return failure.result
    except httpx.HTTPError as exc:
        return ResetResult(Verdict.RETRY, 0, f"transport error: {type(exc).__name__}: {exc}"[:300])


class NinjaOneClient:
    """NinjaOne: OAuth2 client credentials, then ``POST /v2/alert/{uid}/reset`` (204)."""

    def __init__(self, tokens: TokenCache) -> None:
        self._tokens = tokens

    async def reset(
        self, alert_row: Mapping[str, Any], integration_api: IntegrationApi, http: httpx.AsyncClient
    ) -> ResetResult:
        """Reset the alert; found by its uid, or by device and condition among active alerts."""
        return await _guarded(lambda: self._reset(alert_row, integration_api, http))

    async def _reset(
        self, row: Mapping[str, Any], api: IntegrationApi, http: httpx.AsyncClient
    ) -> ResetResult:
        uid = row.get("source_ref")
        if not uid:
            found = await self._find_uid(row, api, http)
            if isinstance(found, ResetResult):
                return found
            uid = found
        url = f"{api.root}/v2/alert/{quote(str(uid), safe='')}/reset"
        response = await self._authorized(api, http, "POST", url)
        return result_of(response)

    async def _authorized(
        self,
        api: IntegrationApi,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        step: str = "",
    ) -> httpx.Response:
        token, cached = await self._tokens.get(api, lambda: self._fetch_token(api, http))
        response = await http.request(method, url, headers={"authorization": f"Bearer {token}"})
        if response.status_code == 401 and cached:
            self._tokens.invalidate(api)
            token, _ = await self._tokens.get(api, lambda: self._fetch_token(api, http))
            response = await http.request(method, url, headers={"authorization": f"Bearer {token}"})
        if step:
            _require_ok(response, step)
        return response

    async def _fetch_token(self, api: IntegrationApi, http: httpx.AsyncClient) -> tuple[str, float]:
        response = await http.post(
            f"{api.root}/ws/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": api.client_id,
                "client_secret": api.client_secret,
                "scope": NINJAONE_SCOPE,
            },
        )
        return _token_from(response, "token request")

    async def _find_uid(
        self, row: Mapping[str, Any], api: IntegrationApi, http: httpx.AsyncClient
    ) -> str | ResetResult:
        config_uid = ninja_source_config_uid(row)
        device_id = row.get("device_id")
        if not config_uid or not device_id:
            return ResetResult(
                Verdict.PERMANENT,
                0,
                "cannot identify the alert at the source (no alert uid, device or sourceConfigUid)",
            )
        response = await self._authorized(
            api, http, "GET", f"{api.root}/v2/alerts", step="listing active alerts"
        )
        try:
            alerts = _alert_list(response.json())
        except ValueError as exc:
            raise ProviderFailure(
                ResetResult(Verdict.RETRY, response.status_code, "unreadable list of alerts")
            ) from exc
        uid = match_active_alert(alerts, device_id=str(device_id), source_config_uid=config_uid)
        if uid is None:
            return ResetResult(
                Verdict.SUCCEEDED,
                response.status_code,
                "no longer active at the source; nothing to reset",
            )
        return uid


def _alert_list(body: Any) -> list[Mapping[str, Any]]:
    if isinstance(body, Mapping):
        body = next(
            (body[k] for k in ("alerts", "results", "data") if isinstance(body.get(k), list)), []
        )
    if not isinstance(body, list):
        raise ValueError("not a list of alerts")
    return [a for a in body if isinstance(a, Mapping)]


def match_active_alert(
    alerts: Sequence[Mapping[str, Any]], *, device_id: str, source_config_uid: str
) -> str | None:
    """The uid of the newest active alert of ``device_id`` raised by ``source_config_uid``."""
    matches = [
        a
        for a in alerts
        if str(a.get("deviceId")) == device_id
        and str(a.get("sourceConfigUid")) == source_config_uid
        and a.get("uid")
    ]
    if not matches:
        return None
    newest = max(matches, key=lambda a: _number(a.get("createTime")))
    return str(newest["uid"])


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def ninja_source_config_uid(row: Mapping[str, Any]) -> str | None:
    """The NinjaOne ``sourceConfigUid`` of a stored alert: from its raw body, else its labels."""
    series = str(row.get("series_key") or "").split(":", 1)[-1]
    try:
        body = orjson.loads(bytes(row.get("raw_body") or b""))
    except orjson.JSONDecodeError:
        body = None
    activities = body if isinstance(body, list) else [body]
    objects = [a for a in activities if isinstance(a, Mapping)]
    chosen = next((a for a in objects if str(a.get("seriesUid")) == series), None)
    if chosen is None and len(objects) == 1:
        chosen = objects[0]
    if chosen is not None and chosen.get("sourceConfigUid"):
        return str(chosen["sourceConfigUid"])
    labels = row.get("labels") or {}
    value = labels.get("sourceConfigUid") if isinstance(labels, Mapping) else None
    return str(value) if value else None


class DattoClient:
    """Datto RMM: password-grant token, then ``POST /api/v2/alert/{alertUid}/resolve``."""

    def __init__(self, tokens: TokenCache) -> None:
        self._tokens = tokens

    async def reset(
        self, alert_row: Mapping[str, Any], integration_api: IntegrationApi, http: httpx.AsyncClient
    ) -> ResetResult:
        """Resolve the alert by its Datto alert uid."""
        return await _guarded(lambda: self._reset(alert_row, integration_api, http))

    async def _reset(
        self, row: Mapping[str, Any], api: IntegrationApi, http: httpx.AsyncClient
    ) -> ResetResult:
        uid = row.get("source_ref")
        if not uid:
            return ResetResult(Verdict.PERMANENT, 0, "the alert carries no Datto alert uid")
        url = f"{api.root}/api/v2/alert/{quote(str(uid), safe='')}/resolve"
        token, cached = await self._tokens.get(api, lambda: self._fetch_token(api, http))
        response = await http.post(url, headers={"authorization": f"Bearer {token}"})
        if response.status_code == 401 and cached:
            self._tokens.invalidate(api)
            token, _ = await self._tokens.get(api, lambda: self._fetch_token(api, http))
            response = await http.post(url, headers={"authorization": f"Bearer {token}"})
        return result_of(response)

    async def _fetch_token(self, api: IntegrationApi, http: httpx.AsyncClient) -> tuple[str, float]:
        response = await http.post(
            f"{api.root}/auth/oauth/token",
            data={
                "grant_type": "password",
                "username": api.client_id,
                "password": api.client_secret,
            },
            auth=DATTO_BASIC_AUTH,
        )
        return _token_from(response, "token request")


def default_clients(tokens: TokenCache | None = None) -> dict[str, ResetClient]:
    """A client for every provider that declares the ``outbound_reset`` capability."""
    # Imported here: the resolving clients build on this module's IntegrationApi.
    from services.ingest.clients.resolve import resolving_clients

    cache = tokens or TokenCache()
    clients: dict[str, ResetClient] = {
        "ninjaone": NinjaOneClient(cache),
        "datto": DattoClient(cache),
    }
    clients.update(resolving_clients())
    return clients


def reset_blocker(
    *,
    provider: str,
    settings: Mapping[str, Any] | None,
    has_secret: bool,
    disabled: bool,
    clients: Mapping[str, ResetClient],
) -> str | None:
    """Why the integration cannot reset alerts in its RMM, or None when it can."""
    if "outbound_reset" not in PROVIDER_CAPABILITIES.get(provider, ()) or provider not in clients:
        return f"provider {provider} cannot reset alerts through its API"
    api = (settings or {}).get("api") or {}
    needs_client_id = provider not in KEY_ONLY_APIS
    if not api.get("base_url") or (needs_client_id and not api.get("client_id")) or not has_secret:
        return "the integration has no provider API configured (base URL, client id and secret)"
    if disabled:
        return "the integration is disabled"
    return None
