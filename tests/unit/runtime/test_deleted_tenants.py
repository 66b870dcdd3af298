"""A deleted tenant in the access list: its users and the services acting for it are
refused (PERMISSION_DENIED, TENANT_DELETING while under way, TENANT_DELETED once
completed); services acting for a suspended tenant, or for none, are still admitted."""

from __future__ import annotations

import pytest

from triage.runtime.access_list import AccessList
from triage.runtime.auth import Principal, TokenAuthority
from triage.runtime.errors import PermissionDenied
from triage.runtime.tenant_gate import TenantGate, TenantStanding

KEY = "a-test-signing-key-0123456789abcdef0123"
TENANT = "11111111-1111-1111-1111-111111111111"


def authority_with_access() -> tuple[TokenAuthority, AccessList]:
    """An authority whose access list the test feeds."""
    authority = TokenAuthority(KEY)
    access = AccessList()
    authority.access = access
    return authority, access


def acting_for(authority: TokenAuthority, tenant_id: str | None) -> Principal:
    """A service principal acting for ``tenant_id`` (what x-triage-tenant-id makes)."""
    service = authority.verify(authority.service_token("tickets"))
    return Principal(service.subject, tenant_id, service.scopes, service.token_id)


async def refusal(authority: TokenAuthority, principal: Principal) -> PermissionDenied:
    """The refusal ``admit`` raises for ``principal``."""
    with pytest.raises(PermissionDenied) as denied:
        await authority.admit(principal)
    return denied.value


def test_a_deletion_is_followed_and_announced() -> None:
    access = AccessList()
    changed: list[str] = []
    access.on_tenant_change.append(changed.append)
    access.apply(f"deleted.{TENANT}", b"deleting")
    assert access.deletion(TENANT) == "deleting"
    access.apply(f"deleted.{TENANT}", b"deleted")
    assert access.deletion(TENANT) == "deleted"
    assert access.deletion("22222222-2222-2222-2222-222222222222") is None
    assert changed == [TENANT, TENANT]


async def test_a_deleted_tenants_user_is_refused_with_the_deletion_reason() -> None:
    authority, access = authority_with_access()
    user = authority.verify(authority.issue(subject="u", tenant_id=TENANT, scopes=["rules:*"]))
    await authority.admit(user)
    access.apply(f"deleted.{TENANT}", b"deleting")
    denied = await refusal(authority, user)
    assert denied.reason == "TENANT_DELETING" and "being deleted" in denied.message
    access.apply(f"deleted.{TENANT}", b"deleted")
    denied = await refusal(authority, user)
    assert denied.reason == "TENANT_DELETED" and "was deleted" in denied.message


async def test_a_deleted_tenant_is_refused_before_a_cached_active_standing() -> None:
    authority, access = authority_with_access()

    async def always_active(tenant_id: str) -> TenantStanding:
        return TenantStanding.ACTIVE

    authority.tenant_gate = TenantGate(always_active)
    user = authority.verify(authority.issue(subject="u", tenant_id=TENANT, scopes=["rules:*"]))
    await authority.admit(user)  # cached active for 10 s
    access.apply(f"deleted.{TENANT}", b"deleted")
    assert (await refusal(authority, user)).reason == "TENANT_DELETED"


async def test_a_service_acting_for_a_deleted_tenant_is_refused() -> None:
    authority, access = authority_with_access()
    service = acting_for(authority, TENANT)
    await authority.admit(service)
    access.apply(f"deleted.{TENANT}", b"deleted")
    assert (await refusal(authority, service)).reason == "TENANT_DELETED"
    access.apply(f"deleted.{TENANT}", b"deleting")
    assert (await refusal(authority, service)).reason == "TENANT_DELETING"


async def test_services_keep_acting_for_suspended_tenants_and_for_none() -> None:
    authority, access = authority_with_access()
    access.apply(f"suspended.{TENANT}", b"1")
    access.apply("deleted.22222222-2222-2222-2222-222222222222", b"deleted")
    await authority.admit(acting_for(authority, TENANT))
    await authority.admit(acting_for(authority, None))


async def test_the_registry_saying_deleting_is_refused_as_being_deleted() -> None:
    async def deleting(tenant_id: str) -> TenantStanding:
        return TenantStanding.DELETING

    with pytest.raises(PermissionDenied) as denied:
        await TenantGate(deleting).admit(TENANT)
    assert denied.value.reason == "TENANT_DELETING" and TENANT in denied.value.message
