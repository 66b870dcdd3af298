"""The tenant gate: active admitted, unknown and suspended refused, answers cached briefly."""

from __future__ import annotations

import asyncio

import pytest

from triage.runtime.errors import PermissionDenied, Unauthenticated, Unavailable
from triage.runtime.tenant_gate import TenantGate, TenantStanding


class Registry:
    """A registry that counts its lookups."""

    def __init__(self, **standing: TenantStanding) -> None:
        self.standing = standing
        self.lookups = 0
        self.fail = False

    async def __call__(self, tenant_id: str) -> TenantStanding:
        self.lookups += 1
        await asyncio.sleep(0)
        if self.fail:
            raise Unavailable("registry down")
        return self.standing.get(tenant_id, TenantStanding.UNKNOWN)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_active_is_admitted_unknown_and_suspended_are_refused() -> None:
    gate = TenantGate(Registry(a=TenantStanding.ACTIVE, s=TenantStanding.SUSPENDED))
    await gate.admit("a")
    with pytest.raises(Unauthenticated):
        await gate.admit("nobody")
    with pytest.raises(PermissionDenied):
        await gate.admit("s")


async def test_answers_are_cached_until_their_ttl_and_lookups_coalesce() -> None:
    registry, clock = Registry(a=TenantStanding.ACTIVE), Clock()
    gate = TenantGate(registry, ttl_seconds=10, unknown_ttl_seconds=1, now=clock)
    await asyncio.gather(*(gate.admit("a") for _ in range(5)))
    assert registry.lookups == 1
    registry.standing["a"] = TenantStanding.SUSPENDED
    clock.now = 9.9
    await gate.admit("a")
    clock.now = 10.1
    with pytest.raises(PermissionDenied):
        await gate.admit("a")
    assert registry.lookups == 2


async def test_an_unknown_tenant_is_looked_up_again_soon_and_failures_are_not_cached() -> None:
    registry, clock = Registry(), Clock()
    gate = TenantGate(registry, ttl_seconds=10, unknown_ttl_seconds=1, now=clock)
    with pytest.raises(Unauthenticated):
        await gate.admit("new")
    registry.standing["new"] = TenantStanding.ACTIVE
    clock.now = 1.5
    await gate.admit("new")
    registry.fail = True
    with pytest.raises(Unavailable):
        await gate.admit("other")
    registry.fail = False
    with pytest.raises(Unauthenticated):
        await gate.admit("other")


@pytest.mark.parametrize(
    ("standing", "reason"),
    [(TenantStanding.DELETING, "TENANT_DELETING"), (TenantStanding.DELETED, "TENANT_DELETED")],
)
async def test_a_deleted_tenant_is_refused_with_its_deletions_reason(
    standing: TenantStanding, reason: str
) -> None:
    gate = TenantGate(Registry(gone=standing))
    with pytest.raises(PermissionDenied) as refused:
        await gate.admit("gone")
    assert refused.value.reason == reason
