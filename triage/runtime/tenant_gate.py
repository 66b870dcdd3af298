"""Only registered, active tenants may call: a brief cache over the tenant registry.

A validly signed token names a tenant, but signing says nothing about whether that tenant
exists or is suspended. ingest owns the registry (its ``tenants`` table); the other
services ask it over gRPC (:class:`triage.runtime.peers.PeerDirectory`) and keep the
answer briefly, so a call costs a lookup per tenant and process every few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from triage.runtime.errors import PermissionDenied, Unauthenticated

if TYPE_CHECKING:
    from triage.runtime.app import Runtime
    from triage.runtime.peers import PeerDirectory


class TenantStanding(StrEnum):
    """What the registry says about a tenant."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETING = "deleting"
    DELETED = "deleted"
    UNKNOWN = "unknown"


Lookup = Callable[[str], Awaitable[TenantStanding]]


class TenantGate:
    """Admits a tenant only while the registry calls it active; answers are cached.

    An active or suspended answer is kept ``ttl_seconds`` (how long a suspension may take
    to bite), an unknown one ``unknown_ttl_seconds`` (a tenant created a moment ago is
    admitted soon after). Concurrent first calls for a tenant share one lookup; a failed
    lookup (registry down) is not cached and the call fails UNAVAILABLE.
    """

    def __init__(
        self,
        lookup: Lookup,
        *,
        ttl_seconds: float = 10.0,
        unknown_ttl_seconds: float = 1.0,
        max_entries: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl_seconds
        self._unknown_ttl = unknown_ttl_seconds
        self._max = max_entries
        self._now = now
        self._cache: OrderedDict[str, tuple[TenantStanding, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[TenantStanding]] = {}

    async def standing(self, tenant_id: str) -> TenantStanding:
        """The tenant's standing, from the cache while fresh."""
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[1] > self._now():
            return cached[0]
        pending = self._pending.get(tenant_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[TenantStanding] = asyncio.get_running_loop().create_future()
        self._pending[tenant_id] = future
        try:
            found = await self._lookup(tenant_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a future nobody awaits logs nothing
            raise
        finally:
            self._pending.pop(tenant_id, None)
        future.set_result(found)
        ttl = self._unknown_ttl if found is TenantStanding.UNKNOWN else self._ttl
        self._cache[tenant_id] = (found, self._now() + ttl)
        self._cache.move_to_end(tenant_id)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return found

    def forget(self, tenant_id: str) -> None:
        """Drop the cached answer for ``tenant_id`` (its standing just changed)."""
        self._cache.pop(tenant_id, None)

    async def admit(self, tenant_id: str) -> None:
        """Return if the tenant is active; raise UNAUTHENTICATED or PERMISSION_DENIED."""
        found = await self.standing(tenant_id)
        if found is TenantStanding.UNKNOWN:
            raise Unauthenticated("the token's tenant is not registered", reason="UNKNOWN_TENANT")
        if found is TenantStanding.SUSPENDED:
            raise PermissionDenied("the tenant is suspended", reason="TENANT_SUSPENDED")
        if found is TenantStanding.DELETING:
            raise deleted_tenant(tenant_id, completed=False)
        if found is TenantStanding.DELETED:
            raise deleted_tenant(tenant_id, completed=True)


def deleted_tenant(tenant_id: str, *, completed: bool) -> PermissionDenied:
    """The refusal of a call for a tenant whose deletion was requested: PERMISSION_DENIED,
    as for a suspension, with reason TENANT_DELETED once completed, else TENANT_DELETING."""
    if completed:
        return PermissionDenied(f"the tenant {tenant_id} was deleted", reason="TENANT_DELETED")
    return PermissionDenied(f"the tenant {tenant_id} is being deleted", reason="TENANT_DELETING")


def deletion_standing(error: grpc.aio.AioRpcError) -> TenantStanding | None:
    """DELETING or DELETED when ``error`` is the registry's refusal of a deleted tenant
    (:func:`deleted_tenant` on the wire), else None."""
    if error.code() != grpc.StatusCode.PERMISSION_DENIED:
        return None
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            if info.reason == "TENANT_DELETED":
                return TenantStanding.DELETED
            if info.reason == "TENANT_DELETING":
                return TenantStanding.DELETING
    return None


def guard_tenants(rt: Runtime, peers: PeerDirectory) -> TenantGate:
    """Make ``rt``'s server refuse tokens of unknown or suspended tenants (asking ingest)."""
    gate = TenantGate(peers.tenant_standing)
    rt.authority.tenant_gate = gate
    if rt.authority.access is not None:
        rt.authority.access.on_tenant_change.append(gate.forget)
    return gate
