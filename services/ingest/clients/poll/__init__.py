"""Reconciliation polling: one client per provider API behind one interface.

``client_for(provider, credentials, http)`` builds the client of an integration;
``list_active()`` gives every alert the provider reports active (all pages, bounded),
``resolve(alert_id)`` resolves one where ``Capability.RESOLVE`` says the API allows it.
Errors are typed (``RateLimited``, ``TransientPollError``, ``PermanentPollError``).
docs/POLLING.md has the APIs, their sources and the design of the poll worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import httpx

from .base import ActiveAlert, Capability, PollClient, PollClientBase, PollCredentials
from .datto import DattoClient
from .errors import (
    PermanentPollError,
    PollBoundsExceeded,
    PollError,
    RateLimited,
    TransientPollError,
)
from .http import Bounds, retry_after_seconds
from .huntress import HuntressClient
from .identity import reconcile_key
from .level import LevelClient
from .ninjaone import NinjaOneClient
from .tacticalrmm import TacticalRmmClient

CLIENTS: Mapping[str, type[PollClientBase]] = MappingProxyType(
    {
        client.provider: client
        for client in (NinjaOneClient, DattoClient, TacticalRmmClient, LevelClient, HuntressClient)
    }
)
#: What each provider's API allows; providers not listed have no pollable API.
CAPABILITIES: Mapping[str, frozenset[Capability]] = MappingProxyType(
    {provider: client.capabilities for provider, client in CLIENTS.items()}
)


def client_for(
    provider: str,
    credentials: PollCredentials,
    http: httpx.AsyncClient,
    *,
    bounds: Bounds | None = None,
) -> PollClient:
    """The poll client of ``provider``; PermanentPollError if it has no pollable API or
    the credentials lack a required part."""
    client = CLIENTS.get(provider)
    if client is None:
        raise PermanentPollError("unsupported", f"{provider} has no pollable API")
    return client(credentials, http, bounds=bounds)


__all__ = [
    "CAPABILITIES",
    "CLIENTS",
    "ActiveAlert",
    "Bounds",
    "Capability",
    "DattoClient",
    "HuntressClient",
    "LevelClient",
    "NinjaOneClient",
    "PermanentPollError",
    "PollBoundsExceeded",
    "PollClient",
    "PollClientBase",
    "PollCredentials",
    "PollError",
    "RateLimited",
    "TacticalRmmClient",
    "TransientPollError",
    "client_for",
    "reconcile_key",
    "retry_after_seconds",
]
