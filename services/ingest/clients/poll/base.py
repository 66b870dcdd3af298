"""The shape every poll client shares: credentials, capabilities, ActiveAlert, the
bounded page loop and the authorized request (with one re-authorization on 401)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx
import orjson

from .auth import BearerToken
from .errors import PermanentPollError, PollBoundsExceeded, TransientPollError
from .http import Bounds, Reply, exchange, require_ok

JsonObject = Mapping[str, Any]


class Capability(StrEnum):
    """What a provider's API lets Triage do (PROVIDER_CAPABILITY_* in the proto)."""

    POLLING = "polling"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class PollCredentials:
    """Where and as whom to call one integration's provider API.

    ``client_id`` is the OAuth client id (NinjaOne), the API key (Datto RMM) or the public
    key (Huntress); ``secret`` is the client secret, API secret or, for key-only APIs
    (Tactical RMM, Level), the API key itself.
    """

    base_url: str
    client_id: str = ""
    secret: str = field(default="", repr=False)

    @property
    def root(self) -> str:
        """The base URL without a trailing slash."""
        return self.base_url.rstrip("/")


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """One alert the provider reports as active right now.

    ``payload`` has the shape the provider's webhook normalizer accepts, so
    ``normalize(provider, alert.body(), "application/json", ctx)`` gives the same series
    as the webhook for that alert (docs/POLLING.md says where keys differ). Treat it as
    read-only. ``delivery_key`` is the key to store a polled trigger under: stable across
    cycles and replicas (so a second ingestion is a duplicate), and for Huntress the very
    key its webhook gives.
    """

    provider: str
    alert_id: str
    payload: JsonObject = field(hash=False)
    delivery_key: str = ""

    def body(self) -> bytes:
        """The payload as a JSON webhook body."""
        return orjson.dumps(self.payload)


class PollClient(Protocol):
    """Lists a provider's active alerts and, where its API allows, resolves one."""

    provider: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]

    async def list_active(self) -> list[ActiveAlert]:
        """Every active alert, all pages; raises a PollError when the list is incomplete."""
        ...

    async def resolve(self, alert_id: str) -> None:
        """Resolve (reset, close) one alert at the provider; raises a PollError if refused."""
        ...


def text_id(value: Any) -> str | None:
    """An id as text (ints included); None for missing, empty or non-scalar ids."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def objects_in(value: Any, step: str) -> list[JsonObject]:
    """The JSON objects of a list; anything but a list is an unreadable answer."""
    if not isinstance(value, list):
        raise TransientPollError("unreadable_response", f"{step}: expected a list")
    return [item for item in value if isinstance(item, dict)]


class PollClientBase(ABC):
    """The common machinery: a bounded page loop and authorized requests."""

    provider: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.POLLING})

    def __init__(
        self,
        credentials: PollCredentials,
        http: httpx.AsyncClient,
        *,
        bounds: Bounds | None = None,
    ) -> None:
        """A client for one integration; ``http`` is shared and owned by the caller."""
        self.credentials = credentials
        self.http = http
        self.bounds = bounds or Bounds()
        #: Items of the last listing that had no usable id (and so were left out).
        self.skipped = 0
        self._check_credentials()

    def _check_credentials(self) -> None:
        if not self.credentials.root or not self.credentials.secret:
            raise PermanentPollError("missing_credentials", f"{self.provider}: base URL and secret")

    # -- the listing -------------------------------------------------------------------

    async def list_active(self) -> list[ActiveAlert]:
        """Every active alert, following pages within the bounds (see docs/POLLING.md)."""
        try:
            async with asyncio.timeout(self.bounds.listing_seconds):
                return await self._collect()
        except TimeoutError as exc:
            raise TransientPollError(
                "listing_timeout", f"over {self.bounds.listing_seconds}s"
            ) from exc

    async def _collect(self) -> list[ActiveAlert]:
        found: dict[str, ActiveAlert] = {}
        skipped = pages = 0
        async for page in self._pages():
            pages += 1
            if pages > self.bounds.max_pages:
                raise PollBoundsExceeded("too_many_pages", f"more than {self.bounds.max_pages}")
            for raw in page:
                alert = self._active(raw)
                if alert is None:
                    skipped += 1
                    continue
                found[alert.alert_id] = alert
                if len(found) > self.bounds.max_alerts:
                    raise PollBoundsExceeded(
                        "too_many_alerts", f"more than {self.bounds.max_alerts}"
                    )
        self.skipped = skipped
        return list(found.values())

    @abstractmethod
    def _pages(self) -> AsyncIterator[Sequence[JsonObject]]:
        """Each page of raw alert objects, in order (one page for unpaged APIs)."""

    @abstractmethod
    def _active(self, raw: JsonObject) -> ActiveAlert | None:
        """The ActiveAlert of one raw API object; None if it has no usable id."""

    async def resolve(self, alert_id: str) -> None:
        """Resolve one alert; providers without a resolve API refuse permanently."""
        raise PermanentPollError("unsupported", f"{self.provider} cannot resolve through its API")

    # -- requests ----------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL under the integration's base URL."""
        return f"{self.credentials.root}{path}"

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (key-only APIs); OAuth clients override."""
        return {}

    async def call(
        self,
        method: str,
        url: str,
        step: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Reply:
        """An authenticated request; a non-2xx answer raises its typed error."""
        reply = await exchange(
            self.http,
            method,
            url,
            bounds=self.bounds,
            headers={"accept": "application/json", **self.auth_headers()},
            params=params,
            json=json,
        )
        return require_ok(reply, step)


class OAuthPollClient(PollClientBase):
    """A client whose requests carry a bearer token it fetches and refreshes itself."""

    def __init__(
        self,
        credentials: PollCredentials,
        http: httpx.AsyncClient,
        *,
        bounds: Bounds | None = None,
        token: BearerToken | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Pass ``token`` to share one token across cycles (the worker caches clients)."""
        super().__init__(credentials, http, bounds=bounds)
        self.token = token or (
            BearerToken(self._fetch_token, clock) if clock else BearerToken(self._fetch_token)
        )

    def _check_credentials(self) -> None:
        if not self.credentials.client_id:
            raise PermanentPollError("missing_credentials", f"{self.provider}: client id")
        super()._check_credentials()

    @abstractmethod
    async def _fetch_token(self) -> tuple[str, float]:
        """A new bearer token and its lifetime in seconds, from the provider's token endpoint."""

    async def call(
        self,
        method: str,
        url: str,
        step: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Reply:
        """A request with the bearer token; a 401 on a cached token re-authorizes once."""
        for _ in range(2):
            token, fresh = await self.token.get()
            reply = await exchange(
                self.http,
                method,
                url,
                bounds=self.bounds,
                headers={"accept": "application/json", "authorization": f"Bearer {token}"},
                params=params,
                json=json,
            )
            if reply.status != 401 or fresh:
                break
            self.token.invalidate()
        return require_ok(reply, step)
