"""Signed bearer tokens (JWT, HS256) carrying a tenant and scopes, and the current principal."""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jwt

from triage.runtime.access_list import DELETED_STATE
from triage.runtime.errors import PermissionDenied, Unauthenticated
from triage.runtime.tenant_gate import deleted_tenant

if TYPE_CHECKING:
    from triage.runtime.access_list import AccessList
    from triage.runtime.tenant_gate import TenantGate

ADMIN_SCOPE = "admin"
SERVICE_SCOPE = "service"
TENANT_METADATA_KEY = "x-triage-tenant-id"
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant user, an administrator, or another Triage service."""

    subject: str
    tenant_id: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    #: The token's ``jti`` (what a revocation names); None for a token without one.
    token_id: str | None = None

    @property
    def is_service(self) -> bool:
        """Whether this is a Triage service identity (may act for any tenant it names)."""
        return SERVICE_SCOPE in self.scopes

    def has_scope(self, scope: str) -> bool:
        """Whether the principal holds ``scope``; admin and services hold every scope."""
        if scope in self.scopes or ADMIN_SCOPE in self.scopes or self.is_service:
            return True
        domain = scope.split(":", 1)[0]
        return f"{domain}:*" in self.scopes or (
            scope.endswith(":read") and f"{domain}:write" in self.scopes
        )

    def require(self, scope: str) -> None:
        """Raise PERMISSION_DENIED unless the principal holds ``scope``."""
        if not self.has_scope(scope):
            raise PermissionDenied(f"missing scope {scope!r}")

    def require_tenant(self) -> str:
        """The tenant this call acts for; raise if the principal carries none."""
        if self.tenant_id is None:
            raise PermissionDenied("this call needs a tenant-scoped token")
        return self.tenant_id


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "triage_principal", default=None
)


def current_principal() -> Principal:
    """The principal of the call being served; UNAUTHENTICATED outside an authenticated call."""
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no credentials")
    return principal


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    """Bind the principal for the current task (used by the server and by tests)."""
    return _current.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    """Undo :func:`set_principal`."""
    _current.reset(token)


class TokenAuthority:
    """Issues and verifies tokens; verification accepts the current and previous keys."""

    def __init__(self, key: str, *, previous: Sequence[str] = (), issuer: str = "triage") -> None:
        if len(key) < 32:
            raise ValueError("the signing key must be at least 32 characters")
        self._key = key
        self._keys = (key, *previous)
        self._issuer = issuer
        #: Checks that a token's tenant is registered and active; None admits any tenant
        #: (set by a service's wiring: :func:`triage.runtime.tenant_gate.guard_tenants`).
        self.tenant_gate: TenantGate | None = None
        #: Revoked tokens and suspended tenants, kept current by the runtime's watcher;
        #: None checks neither (a process without the bus).
        self.access: AccessList | None = None

    async def admit(self, principal: Principal) -> None:
        """Refuse a revoked token (UNAUTHENTICATED), anyone acting for a deleted tenant
        (PERMISSION_DENIED), a tenant user whose tenant is unknown (UNAUTHENTICATED) or
        suspended (PERMISSION_DENIED). Services act for the other tenants their events name."""
        access = self.access
        if access is not None and principal.token_id and access.is_revoked(principal.token_id):
            raise Unauthenticated(
                f"the token {principal.token_id} was revoked; ask an administrator for a new one",
                reason="TOKEN_REVOKED",
            )
        if access is not None and principal.tenant_id:
            # Services too: a call acting for a deleted tenant would re-create its rows.
            state = access.deletion(principal.tenant_id)
            if state is not None:
                raise deleted_tenant(principal.tenant_id, completed=state == DELETED_STATE)
        if principal.is_service or not principal.tenant_id:
            return
        if access is not None and access.is_suspended(principal.tenant_id):
            raise PermissionDenied(
                f"the tenant {principal.tenant_id} is suspended; an administrator can resume it",
                reason="TENANT_SUSPENDED",
            )
        if self.tenant_gate is not None:
            await self.tenant_gate.admit(principal.tenant_id)

    def issue(
        self,
        *,
        subject: str,
        tenant_id: str | None,
        scopes: Iterable[str],
        ttl_seconds: int = 3600,
        token_id: str | None = None,
    ) -> str:
        """Sign a token for ``subject`` acting in ``tenant_id`` with ``scopes``; its ``jti``
        is ``token_id`` (a new UUID when None)."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self._issuer,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": token_id or str(uuid.uuid4()),
            "scope": " ".join(sorted(set(scopes))),
        }
        if tenant_id is not None:
            claims["tid"] = tenant_id
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Principal:
        """Check signature, issuer and expiry; UNAUTHENTICATED on any failure."""
        last: Exception | None = None
        for key in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[_ALGORITHM],
                    issuer=self._issuer,
                    options={"require": ["exp", "sub", "iss"]},
                )
            except jwt.InvalidSignatureError as exc:
                last = exc
                continue
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"invalid token: {exc}") from exc
            tenant = claims.get("tid")
            jti = claims.get("jti")
            return Principal(
                subject=str(claims["sub"]),
                tenant_id=str(tenant) if tenant else None,
                scopes=frozenset(str(claims.get("scope", "")).split()),
                token_id=str(jti) if jti else None,
            )
        raise Unauthenticated("invalid token: bad signature") from last

    def service_token(self, service_name: str, ttl_seconds: int = 3600) -> str:
        """A token for this service's own identity, used on calls to other services."""
        return self.issue(
            subject=f"service:{service_name}",
            tenant_id=None,
            scopes=[SERVICE_SCOPE],
            ttl_seconds=ttl_seconds,
        )


def principal_from_metadata(
    authority: TokenAuthority, metadata: Iterable[tuple[str, str | bytes]]
) -> Principal:
    """Authenticate a call from its metadata (``authorization: Bearer <jwt>``).

    A service principal may name the tenant it acts for in ``x-triage-tenant-id``; any other
    caller's tenant comes from its token alone.
    """
    values = {k.lower(): v if isinstance(v, str) else v.decode() for k, v in metadata}
    header = values.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing bearer token")
    principal = authority.verify(token.strip())
    if principal.is_service and (tenant := values.get(TENANT_METADATA_KEY)):
        return Principal(principal.subject, tenant, principal.scopes, principal.token_id)
    return principal
