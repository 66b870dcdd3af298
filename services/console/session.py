"""The session cookie and CSRF tokens: pure functions over bytes and clocks, no I/O.

The session (the user's bearer token, a CSRF secret, the claims shown in the header) is
encrypted and authenticated with Fernet into one HttpOnly cookie, so the console keeps no
server-side state and any replica can serve any request. The token's claims are read
without verifying the signature: they only decide which buttons to show, and every call
is checked by the service that receives it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken

COOKIE_NAME = "triage_console"
LOGIN_CSRF_COOKIE = "triage_console_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class BadToken(ValueError):
    """The pasted text is not a bearer token the console can use."""


@dataclass(frozen=True)
class Claims:
    """What a token says about its holder (unverified; for display and button hiding)."""

    subject: str
    tenant_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    expires_at: float | None = None

    def can(self, scope: str) -> bool:
        """Whether the token holds ``scope`` (``x:write`` implies ``x:read``; ``admin`` all)."""
        if scope in self.scopes or "admin" in self.scopes:
            return True
        domain = scope.split(":", 1)[0]
        return f"{domain}:*" in self.scopes or (
            scope.endswith(":read") and f"{domain}:write" in self.scopes
        )


def read_claims(token: str) -> Claims:
    """The claims of a JWT, without checking its signature (the services do)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise BadToken("a token has three dot-separated parts")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("the token's claims are not readable") from exc
    if not isinstance(claims, dict):
        raise BadToken("the token's claims are not an object")
    tenant = claims.get("tid")
    if not tenant:
        raise BadToken("this token names no tenant; the console needs a tenant user's token")
    exp = claims.get("exp")
    return Claims(
        subject=str(claims.get("sub", "")),
        tenant_id=str(tenant),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        expires_at=float(exp) if isinstance(exp, int | float) else None,
    )


@dataclass(frozen=True)
class Session:
    """A signed-in user: the bearer token every call carries, and a CSRF secret."""

    token: str
    csrf: str
    claims: Claims
    created_at: float

    @classmethod
    def start(cls, token: str, *, now: float | None = None) -> Session:
        """A new session for ``token`` (raises :class:`BadToken` for unusable text)."""
        token = token.strip()
        return cls(token, secrets.token_urlsafe(32), read_claims(token), now or time.time())

    def expires_at(self, max_age: float) -> float:
        """When the session ends: the token's expiry or ``max_age`` after sign-in."""
        limit = self.created_at + max_age
        exp = self.claims.expires_at
        return min(limit, exp) if exp is not None else limit

    def csrf_ok(self, given: str | None) -> bool:
        """Whether ``given`` is this session's CSRF token (constant-time)."""
        return bool(given) and hmac.compare_digest(str(given), self.csrf)


class SessionCodec:
    """Seals a :class:`Session` into a cookie value and opens it again."""

    def __init__(self, key: str, *, max_age: float) -> None:
        material = key.encode() if key else secrets.token_bytes(32)
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))
        self.max_age = max_age

    def seal(self, session: Session) -> str:
        """The cookie value of ``session``."""
        body = {"t": session.token, "c": session.csrf, "at": session.created_at}
        return self._fernet.encrypt(json.dumps(body).encode()).decode()

    def seal_data(self, data: dict[str, str]) -> str:
        """Any small JSON object sealed the same way (an OIDC sign-in in flight)."""
        return self._fernet.encrypt(json.dumps(data).encode()).decode()

    def open_data(self, value: str | None, *, ttl: int) -> dict[str, str] | None:
        """What :meth:`seal_data` sealed at most ``ttl`` seconds ago, else None."""
        if not value:
            return None
        try:
            found = json.loads(self._fernet.decrypt(value.encode(), ttl=ttl))
        except (InvalidToken, ValueError):
            return None
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else None

    def open(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None if absent, forged, or expired."""
        if not value:
            return None
        try:
            body = json.loads(self._fernet.decrypt(value.encode()))
            session = Session(
                str(body["t"]), str(body["c"]), read_claims(str(body["t"])), float(body["at"])
            )
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None
        if (now or time.time()) >= session.expires_at(self.max_age):
            return None
        return session


def secure_cookie(policy: str, *, scheme: str, forwarded_proto: str | None) -> bool:
    """Whether cookies get the Secure flag under ``policy`` for this request."""
    if policy == "always":
        return True
    if policy == "never":
        return False
    proto = (forwarded_proto or scheme).split(",")[0].strip().lower()
    return proto == "https"
