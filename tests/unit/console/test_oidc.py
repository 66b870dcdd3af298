"""OIDC sign-in against a fake provider in-process (no network): authorization code with
PKCE S256, state, nonce, ID token signature through the JWKS, the grant rules, and the
short-lived mesh token the console mints."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.console.app import build_app
from services.console.oidc import Grant, NoGrant, grant_for
from services.console.session import COOKIE_NAME
from services.console.settings import ConsoleSettings
from services.console.views.oidc import FLOW_COOKIE
from tests.unit.console.test_app import FakeMesh
from triage.runtime import TokenAuthority

ISSUER = "https://idp.test"
CLIENT = "triage-console"
SIGNING_KEY = "k" * 40
TENANT = str(uuid.uuid4())
GRANTS = [
    {"claim": "groups", "value": "acme-noc", "tenant_id": TENANT, "scopes": ["tickets:write"]},
    {"claim": "email_domain", "value": "acme.example", "tenant_id": TENANT, "scopes": ["sla:read"]},
]


class FakeProvider:
    """Discovery, JWKS and a token endpoint that checks the PKCE verifier."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, Any] = {"sub": "u1", "email": "ana@acme.example"}
        self.claims.update(email_verified=True, groups=["acme-noc"])
        self.sign_with: Any = self.key
        self.audience = CLIENT
        self.nonce = ""

    def authorize(self, url: str) -> str:
        """What the provider does after the user signs in: a code bound to the request."""
        q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert q["code_challenge_method"] == "S256" and q["response_type"] == "code"
        code = secrets.token_urlsafe(8)
        self.codes[code] = q
        return f"/oidc/callback?code={code}&state={q['state']}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if path == "/jwks":
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            return httpx.Response(200, json={"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]})
        if path == "/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            asked = self.codes.pop(form.get("code", ""), None)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if asked is None or challenge != asked["code_challenge"]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            claims = {
                **self.claims,
                "iss": ISSUER,
                "aud": self.audience,
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce or asked["nonce"],
            }
            token = jwt.encode(claims, self.sign_with, algorithm="RS256", headers={"kid": "k1"})
            return httpx.Response(200, json={"id_token": token, "token_type": "Bearer"})
        return httpx.Response(404)


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
async def oidc_client(provider: FakeProvider) -> AsyncIterator[httpx.AsyncClient]:
    settings = ConsoleSettings(
        console_session_key="test-key",
        console_oidc_issuer=ISSUER,
        console_oidc_client_id=CLIENT,
        console_oidc_signing_key=SIGNING_KEY,
        console_oidc_grants=GRANTS,
        console_oidc_token_minutes=15,
    )
    idp = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    app = build_app(settings, FakeMesh(), oidc_http=idp)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as c:
        yield c
    await idp.aclose()


async def _start(client: httpx.AsyncClient) -> str:
    reply = await client.get("/oidc/login?next=/tickets")
    assert reply.status_code == 303
    assert reply.headers["location"].startswith(f"{ISSUER}/authorize?")
    assert FLOW_COOKIE in reply.headers["set-cookie"]
    return reply.headers["location"]


async def test_sign_in_mints_a_short_lived_mesh_token_for_the_granted_tenant(
    oidc_client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    page = await oidc_client.get("/login")
    assert 'href="/oidc/login?next=' in page.text
    back = provider.authorize(await _start(oidc_client))
    reply = await oidc_client.get(back)
    assert reply.status_code == 303 and reply.headers["location"] == "/tickets"
    assert "httponly" in reply.headers["set-cookie"].lower()
    codec = oidc_client._transport.app.state.console.codec  # type: ignore[attr-defined]
    session = codec.open(oidc_client.cookies.get(COOKIE_NAME))
    principal = TokenAuthority(SIGNING_KEY).verify(session.token)
    assert principal.tenant_id == TENANT and principal.subject == "oidc:ana@acme.example"
    assert principal.scopes == {"tickets:write", "sla:read"}
    assert session.claims.expires_at - time.time() <= 15 * 60 + 5


async def test_a_wrong_state_a_replayed_code_and_a_foreign_signature_are_refused(
    oidc_client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    back = provider.authorize(await _start(oidc_client))
    forged = back.rsplit("state=", 1)[0] + "state=someone-elses"
    assert (await oidc_client.get(forged)).status_code == 400
    assert (await oidc_client.get(back)).status_code == 400, "the flow cookie was spent"
    provider.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = await oidc_client.get(provider.authorize(await _start(oidc_client)))
    assert refused.status_code == 400 and "refused" in refused.text
    assert f"{COOKIE_NAME}=" not in refused.headers.get("set-cookie", "")


async def test_wrong_audience_and_an_ungranted_user_are_refused(
    oidc_client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    provider.audience = "another-app"
    assert (await oidc_client.get(provider.authorize(await _start(oidc_client)))).status_code == 400
    provider.audience = CLIENT
    provider.claims = {"sub": "u2", "email": "eve@elsewhere.example", "email_verified": True}
    denied = await oidc_client.get(provider.authorize(await _start(oidc_client)))
    assert denied.status_code == 403 and "not granted" in denied.text


async def test_an_id_token_for_another_sign_in_is_refused(
    oidc_client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    provider.nonce = "another-sign-ins-nonce"
    refused = await oidc_client.get(provider.authorize(await _start(oidc_client)))
    assert refused.status_code == 400 and "nonce" in refused.text


async def test_without_the_pkce_verifier_the_provider_refuses(
    oidc_client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    url = await _start(oidc_client)
    back = provider.authorize(url)
    code = back.split("code=", 1)[1].split("&", 1)[0]
    provider.codes[code]["code_challenge"] = "not-the-challenge"
    assert (await oidc_client.get(back)).status_code == 400


def test_grant_rules() -> None:
    claims = {"sub": "x", "groups": ["acme-noc"], "email": "a@ACME.example"}
    assert grant_for(claims, GRANTS) == Grant(TENANT, frozenset({"tickets:write"}))
    verified = {**claims, "email_verified": True}
    assert grant_for(verified, GRANTS).scopes == {"tickets:write", "sla:read"}
    with pytest.raises(NoGrant):
        grant_for({"sub": "x", "groups": "other"}, GRANTS)


async def test_oidc_is_off_unless_configured() -> None:
    app = build_app(ConsoleSettings(console_session_key="k"), FakeMesh())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        assert (await c.get("/oidc/login")).status_code == 404
        assert "/oidc/login" not in (await c.get("/login")).text
