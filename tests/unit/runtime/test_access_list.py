"""The access list: revoked tokens until they expire, suspended tenants, change listeners,
and what TokenAuthority.admit makes of them."""

from __future__ import annotations

import pytest

from triage.runtime.access_list import (
    DELETED,
    DELETED_STATE,
    DELETING_STATE,
    REVOKED,
    SUSPENDED,
    AccessList,
)
from triage.runtime.auth import TokenAuthority
from triage.runtime.errors import PermissionDenied, Unauthenticated

KEY = "a-test-signing-key-0123456789abcdef0123"


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_revocation_holds_until_the_token_expires_or_is_deleted() -> None:
    clock = Clock(1000.0)
    access = AccessList(now=clock)
    access.apply(f"{REVOKED}t-1", b"1100.000")
    access.apply(f"{REVOKED}t-2", b"1100.000")
    assert access.is_revoked("t-1") and not access.is_revoked("t-3")
    access.apply(f"{REVOKED}t-2", None)
    assert not access.is_revoked("t-2")
    clock.now = 1100.0  # expired: the token is refused for its expiry anyway
    assert not access.is_revoked("t-1")


def test_a_malformed_revocation_is_ignored() -> None:
    access = AccessList()
    access.apply(f"{REVOKED}t-1", b"soon")
    assert not access.is_revoked("t-1")


def test_suspension_and_resumption_are_announced() -> None:
    access = AccessList()
    changed: list[str] = []
    access.on_tenant_change.append(changed.append)
    access.apply(f"{SUSPENDED}a", b"1")
    assert access.is_suspended("a") and access.suspended_now() == {"a"}
    access.apply(f"{SUSPENDED}a", None)
    assert not access.is_suspended("a") and access.suspended_now() == frozenset()
    assert changed == ["a", "a"]


async def test_admit_refuses_revoked_tokens_and_suspended_tenants_but_not_services() -> None:
    authority = TokenAuthority(KEY)
    authority.access = AccessList()
    user = authority.verify(authority.issue(subject="u", tenant_id="t", scopes=["tickets:read"]))
    service = authority.verify(authority.service_token("rules"))
    await authority.admit(user)
    assert user.token_id is not None
    authority.access.apply(f"{SUSPENDED}t", b"1")
    with pytest.raises(PermissionDenied) as denied:
        await authority.admit(user)
    assert denied.value.reason == "TENANT_SUSPENDED" and "suspended" in denied.value.message
    await authority.admit(service)  # services act for the tenants their events name
    authority.access.apply(f"{REVOKED}{user.token_id}", b"9999999999")
    with pytest.raises(Unauthenticated) as revoked:
        await authority.admit(user)
    assert revoked.value.reason == "TOKEN_REVOKED" and user.token_id in revoked.value.message


def test_barred_tenants_are_the_suspended_and_the_deleted() -> None:
    access = AccessList()
    access.apply(f"{SUSPENDED}a", b"1")
    access.apply(f"{DELETED}b", DELETING_STATE.encode())
    access.apply(f"{DELETED}c", DELETED_STATE.encode())
    assert access.barred_now() == {"a", "b", "c"}
    assert access.suspended_now() == {"a"}
    access.apply(f"{SUSPENDED}a", None)
    assert access.barred_now() == {"b", "c"}
