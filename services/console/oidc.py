"""OIDC sign-in (authorization code + PKCE S256) exchanged for a short-lived mesh token.

The services accept only the mesh's own signed tokens, so after the provider's callback
the console checks the ID token (signature through the provider's JWKS, issuer, audience,
expiry, nonce), maps its claims to a tenant and scopes through the configured grants, and
mints a mesh token with the signing key it was given. Nothing here keeps state: the
in-flight state, nonce and verifier travel in a sealed cookie.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from services.console.settings import ConsoleSettings
from triage.runtime import TokenAuthority

#: Signature algorithms accepted for ID tokens (asymmetric only: a provider's shared
#: secret never signs what the console trusts).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
#: How long a sign-in may take between the redirect and the callback, seconds.
FLOW_SECONDS = 600
#: Seconds of clock skew allowed on the ID token's times.
LEEWAY = 60


class OidcError(Exception):
    """The sign-in cannot complete; the message is safe to show."""


class NoGrant(OidcError):
    """The user is authenticated but no grant rule gives them a tenant."""


@dataclass(frozen=True)
class Flow:
    """One sign-in in flight: what the callback must see again."""

    state: str
    nonce: str
    verifier: str
    next: str

    @classmethod
    def new(cls, next_path: str) -> Flow:
        """Fresh random state, nonce and PKCE verifier (43+ characters, RFC 7636)."""
        return cls(
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(48),
            next_path,
        )

    def challenge(self) -> str:
        """The S256 code challenge of the verifier."""
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def as_dict(self) -> dict[str, str]:
        """For the sealed cookie."""
        return {"s": self.state, "n": self.nonce, "v": self.verifier, "x": self.next}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Flow:
        """From the sealed cookie."""
        return cls(data["s"], data["n"], data["v"], data["x"])


@dataclass(frozen=True)
class Grant:
    """The tenant and scopes a user's claims give."""

    tenant_id: str
    scopes: frozenset[str]


def _claim_values(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def grant_for(claims: Mapping[str, Any], rules: Sequence[Mapping[str, Any]]) -> Grant:
    """The first matching rule names the tenant; every matching rule of that tenant adds
    its scopes. A rule matches when its ``claim`` holds ``value`` (an element, for a list
    claim such as ``groups``; ``email_domain`` matches the domain of a verified email)."""
    tenant = ""
    scopes: set[str] = set()
    for rule in rules:
        name, wanted = str(rule.get("claim", "")), str(rule.get("value", ""))
        if name == "email_domain":
            email = str(claims.get("email", ""))
            verified = claims.get("email_verified") is True
            found = [email.rpartition("@")[2].lower()] if verified and "@" in email else []
            wanted = wanted.lower()
        else:
            found = _claim_values(claims, name)
        if not wanted or wanted not in found:
            continue
        rule_tenant = str(rule.get("tenant_id", ""))
        tenant = tenant or rule_tenant
        if rule_tenant == tenant:
            scopes.update(str(s) for s in rule.get("scopes", []))
    if not tenant or not scopes:
        raise NoGrant("your account is not granted access to any tenant; ask an administrator")
    return Grant(tenant, frozenset(scopes))


class Provider:
    """The configured OIDC provider: discovery, redirect, code exchange, ID token check."""

    def __init__(self, settings: ConsoleSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once; its issuer must match)."""
        if self._metadata is None:
            issuer = self.settings.console_oidc_issuer.rstrip("/")
            found = await self._get_json(f"{issuer}/.well-known/openid-configuration")
            if str(found.get("issuer", "")).rstrip("/") != issuer:
                raise OidcError("the provider's discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not found.get(key):
                    raise OidcError(f"the provider's discovery document has no {key}")
            self._metadata = found
        return self._metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            reply = await self.http.get(url, timeout=10)
            reply.raise_for_status()
            found = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the identity provider did not answer: {exc}") from exc
        if not isinstance(found, dict):
            raise OidcError("the identity provider answered something unexpected")
        return found

    async def authorize_url(self, flow: Flow, redirect_uri: str) -> str:
        """Where to send the browser to sign in."""
        endpoint = str((await self.metadata())["authorization_endpoint"])
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.console_oidc_client_id,
                "redirect_uri": redirect_uri,
                "scope": self.settings.console_oidc_scopes,
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": flow.challenge(),
                "code_challenge_method": "S256",
            }
        )
        return endpoint + ("&" if "?" in endpoint else "?") + query

    async def exchange(self, code: str, flow: Flow, redirect_uri: str) -> dict[str, Any]:
        """Trade the code (with the PKCE verifier) for tokens; the checked ID token claims."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.settings.console_oidc_client_id,
            "code_verifier": flow.verifier,
        }
        if self.settings.console_oidc_client_secret:
            form["client_secret"] = self.settings.console_oidc_client_secret
        endpoint = str((await self.metadata())["token_endpoint"])
        try:
            reply = await self.http.post(endpoint, data=form, timeout=10)
            body = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the identity provider did not answer: {exc}") from exc
        if reply.status_code != 200 or not isinstance(body, dict) or "id_token" not in body:
            what = body.get("error", reply.status_code) if isinstance(body, dict) else "?"
            raise OidcError(f"the identity provider refused the sign-in ({what})")
        return await self.verify(str(body["id_token"]), nonce=flow.nonce)

    async def _key(self, token: str) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token is malformed: {exc}") from exc
        kid = header.get("kid")
        for refresh in (False, True):
            if self._jwks is None or refresh:
                self._jwks = await self._get_json(str((await self.metadata())["jwks_uri"]))
            for key in self._jwks.get("keys", []):
                if isinstance(key, dict) and (kid is None or key.get("kid") == kid):
                    try:
                        return jwt.PyJWK(key).key
                    except jwt.PyJWTError as exc:
                        raise OidcError(f"the provider's signing key is unusable: {exc}") from exc
        raise OidcError("the ID token is signed with a key the provider does not publish")

    async def verify(self, token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once signature, issuer, audience, times and nonce hold."""
        key = await self._key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.settings.console_oidc_client_id,
                issuer=str((await self.metadata())["issuer"]),
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token was refused: {exc}") from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("the ID token's nonce does not match this sign-in")
        return claims


def mint(settings: ConsoleSettings, claims: Mapping[str, Any], grant: Grant) -> str:
    """A mesh token for the signed-in user, valid for ``console_oidc_token_minutes``."""
    who = str(claims.get("email") or claims.get("preferred_username") or claims["sub"])
    authority = TokenAuthority(settings.console_oidc_signing_key)
    return authority.issue(
        subject=f"oidc:{who}",
        tenant_id=grant.tenant_id,
        scopes=grant.scopes,
        ttl_seconds=max(60, settings.console_oidc_token_minutes * 60),
    )
