"""Questions one service asks another's gRPC API about a tenant's objects and standing.

A service keeps no copy of another's objects (no projection of integrations or channels):
references are checked when a caller writes them, which is rare, so asking the owner at
that moment is the simplest answer that is never stale. Calls carry this service's
identity acting for the caller's tenant, so the owner's own tenant scoping decides.

The runtime names no service: a contract ``triage.<peer>.v1`` is served by the peer named
``<peer>`` (its address is ``TRIAGE_PEERS__<PEER>``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc

from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.runtime.auth import TokenAuthority
from triage.runtime.clients import open_channel, service_metadata
from triage.runtime.config import Peers
from triage.runtime.errors import Unavailable
from triage.runtime.tenant_gate import TenantStanding, deletion_standing

if TYPE_CHECKING:
    from triage.runtime.app import Runtime

log = logging.getLogger(__name__)

#: The owner answers "not yours" and "no such thing" alike; a malformed id is not found either.
_ABSENT = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
_PARALLEL_LOOKUPS = 16


def contract_owner(package: str) -> str:
    """The peer that serves the contract ``package`` (``triage.x.v1`` -> ``x``)."""
    return package.split(".")[1]


#: Who answers each question: the owners of the tenant registry, integrations and channels.
_TENANTS = contract_owner(tenant_api.DESCRIPTOR.package)
_INTEGRATIONS = contract_owner(ingest_api.DESCRIPTOR.package)
_CHANNELS = contract_owner(notify_api.DESCRIPTOR.package)


class PeerDirectory:
    """Lazily opened channels to the owners of tenants, integrations and notification
    channels, and the questions asked over them."""

    def __init__(
        self,
        *,
        addresses: Peers,
        authority: TokenAuthority,
        service: str,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._addresses = addresses
        self._authority = authority
        self._service = service
        self._timeout = timeout_seconds
        self._channels: dict[str, Any] = {}

    def _channel(self, peer: str) -> Any:
        if peer not in self._channels:
            self._channels[peer] = open_channel(self._addresses.address(peer))
        return self._channels[peer]

    async def close(self) -> None:
        """Close the open channels."""
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()

    async def _ask(self, peer: str, what: str, call: Callable[[Any], Awaitable[Any]]) -> bool:
        """Whether the peer found it; UNAVAILABLE when it cannot answer."""
        try:
            channel = self._channel(peer)
        except LookupError as exc:
            log.error("peer has no address", extra={"peer": peer})
            raise Unavailable(f"cannot check {what} with {peer} now; retry") from exc
        try:
            await call(channel)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _ABSENT:
                return False
            log.warning("peer lookup failed", extra={"peer": peer, "code": exc.code().name})
            raise Unavailable(f"cannot check {what} with {peer} now; retry") from exc
        return True

    async def tenant_standing(self, tenant_id: str) -> TenantStanding:
        """Whether the tenant registry knows the tenant, and whether it is active."""
        found: list[Any] = []
        gone: list[TenantStanding] = []

        async def get(channel: Any) -> None:
            stub = tenant_grpc.TenantServiceStub(channel)
            try:
                reply = await stub.GetTenant(
                    tenant_api.GetTenantRequest(tenant_id=tenant_id),
                    metadata=service_metadata(self._authority, self._service, tenant_id),
                    timeout=self._timeout,
                )
            except grpc.aio.AioRpcError as exc:
                # The registry refuses a deleted tenant's lookup: that is the answer.
                standing = deletion_standing(exc)
                if standing is None:
                    raise
                gone.append(standing)
                return
            found.append(reply.tenant)

        if not await self._ask(_TENANTS, "the tenant", get):
            return TenantStanding.UNKNOWN
        if gone:
            return gone[0]
        if found[0].state == ingest_pb.TENANT_STATE_SUSPENDED:
            return TenantStanding.SUSPENDED
        if found[0].state == ingest_pb.TENANT_STATE_DELETING:
            return TenantStanding.DELETING
        return TenantStanding.ACTIVE

    async def missing_integrations(self, tenant_id: str, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are not integrations of the tenant."""

        def get(integration_id: str) -> Callable[[Any], Awaitable[Any]]:
            async def call(channel: Any) -> Any:
                return await ingest_grpc.IngestServiceStub(channel).GetIntegration(
                    ingest_api.GetIntegrationRequest(integration_id=integration_id),
                    metadata=service_metadata(self._authority, self._service, tenant_id),
                    timeout=self._timeout,
                )

            return call

        return await self._missing(_INTEGRATIONS, "integrations", ids, get)

    async def missing_channels(self, tenant_id: str, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are not notification channels of the tenant."""

        def get(channel_id: str) -> Callable[[Any], Awaitable[Any]]:
            async def call(channel: Any) -> Any:
                return await notify_grpc.NotifyServiceStub(channel).GetChannel(
                    notify_api.GetChannelRequest(channel_id=channel_id),
                    metadata=service_metadata(self._authority, self._service, tenant_id),
                    timeout=self._timeout,
                )

            return call

        return await self._missing(_CHANNELS, "notification channels", ids, get)

    async def _missing(
        self,
        peer: str,
        what: str,
        ids: Sequence[str],
        get: Callable[[str], Callable[[Any], Awaitable[Any]]],
    ) -> list[str]:
        unique = list(dict.fromkeys(ids))
        limit = asyncio.Semaphore(_PARALLEL_LOOKUPS)

        async def ask(one: str) -> bool:
            async with limit:
                return await self._ask(peer, what, get(one))

        found = await asyncio.gather(*(ask(i) for i in unique))
        absent = {i for i, ok in zip(unique, found, strict=True) if not ok}
        return [i for i in unique if i in absent]


def peer_directory(rt: Runtime) -> PeerDirectory:
    """A directory over ``rt``'s configured peers, closed when the service stops."""
    directory = PeerDirectory(
        addresses=rt.settings.peers, authority=rt.authority, service=rt.settings.service_name
    )
    rt.on_stop.append(directory.close)
    return directory
