"""The session cookie and CSRF: sealed, tamper-evident, bounded in time, scope-aware."""

from __future__ import annotations

import base64
import json

import pytest

from services.console.session import (
    BadToken,
    Claims,
    Session,
    SessionCodec,
    read_claims,
    secure_cookie,
)


def token(claims: dict[str, object]) -> str:
    """An unsigned JWT-shaped token with ``claims`` (the console never checks signatures)."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2ln"


USER = {"sub": "ana", "tid": "t-1", "scope": "tickets:write rules:read", "exp": 2_000_000_000}


def test_claims_are_read_from_the_token() -> None:
    claims = read_claims(token(USER))
    assert (claims.subject, claims.tenant_id) == ("ana", "t-1")
    assert claims.expires_at == 2_000_000_000


@pytest.mark.parametrize(
    "text", ["", "abc", "a.b", "a..c", "a.!!!.c", token({"sub": "admin", "scope": "admin"})]
)
def test_unusable_tokens_are_refused(text: str) -> None:
    with pytest.raises(BadToken):
        read_claims(text)


def test_write_implies_read_and_nothing_else() -> None:
    claims = read_claims(token(USER))
    assert claims.can("tickets:write") and claims.can("tickets:read")
    assert claims.can("rules:read") and not claims.can("rules:write")
    assert not claims.can("notify:read")
    assert Claims("x", "t", frozenset({"admin"})).can("notify:write")


def test_seal_and_open_round_trip() -> None:
    codec = SessionCodec("k", max_age=3600)
    session = Session.start(token(USER), now=1000.0)
    opened = codec.open(codec.seal(session), now=1001.0)
    assert opened == session


def test_a_tampered_or_foreign_cookie_opens_to_nothing() -> None:
    codec = SessionCodec("k", max_age=3600)
    sealed = codec.seal(Session.start(token(USER), now=1000.0))
    flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    assert codec.open(flipped, now=1001.0) is None
    assert SessionCodec("other key", max_age=3600).open(sealed, now=1001.0) is None
    assert codec.open("", now=1001.0) is None
    assert codec.open("not a cookie", now=1001.0) is None


def test_a_session_ends_at_its_max_age_or_the_tokens_expiry() -> None:
    codec = SessionCodec("k", max_age=3600)
    session = Session.start(token(USER), now=1000.0)
    assert codec.open(codec.seal(session), now=4599.0) is not None
    assert codec.open(codec.seal(session), now=4600.0) is None
    short = Session.start(token({**USER, "exp": 1500}), now=1000.0)
    assert codec.open(codec.seal(short), now=1499.0) is not None
    assert codec.open(codec.seal(short), now=1500.0) is None


def test_csrf_token_must_match_exactly() -> None:
    session = Session.start(token(USER))
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok("")
    assert not session.csrf_ok(session.csrf + "x")
    assert Session.start(token(USER)).csrf != session.csrf


@pytest.mark.parametrize(
    ("policy", "scheme", "forwarded", "expected"),
    [
        ("auto", "http", None, False),
        ("auto", "https", None, True),
        ("auto", "http", "https", True),
        ("auto", "http", "https, http", True),
        ("never", "https", "https", False),
        ("always", "http", None, True),
    ],
)
def test_secure_flag(policy: str, scheme: str, forwarded: str | None, expected: bool) -> None:
    assert secure_cookie(policy, scheme=scheme, forwarded_proto=forwarded) is expected
