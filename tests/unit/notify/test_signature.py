from __future__ import annotations

import hashlib
import hmac

from services.notify.clients.webhook import sign, verify_signature

BODY = b'{"version":"1","event_id":"evt-1"}'
T = 1_767_225_600


def test_header_format_matches_the_documented_scheme() -> None:
    header = sign("s3cret", BODY, T)
    expected = hmac.new(b"s3cret", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"


def test_round_trip() -> None:
    assert verify_signature("s3cret", sign("s3cret", BODY, T), BODY, now=T + 10)


def test_wrong_secret_or_tampered_body_is_rejected() -> None:
    header = sign("s3cret", BODY, T)
    assert not verify_signature("other", header, BODY, now=T)
    assert not verify_signature("s3cret", header, BODY + b" ", now=T)


def test_replay_outside_tolerance_is_rejected() -> None:
    header = sign("s3cret", BODY, T)
    assert verify_signature("s3cret", header, BODY, now=T + 300)
    assert not verify_signature("s3cret", header, BODY, now=T + 301)
    assert not verify_signature("s3cret", header, BODY, now=T - 301)
    assert verify_signature("s3cret", header, BODY, now=T + 3000, tolerance=3600)


def test_timestamp_is_covered_by_the_signature() -> None:
    header = sign("s3cret", BODY, T)
    forged = header.replace(f"t={T}", f"t={T + 1000}")
    assert not verify_signature("s3cret", forged, BODY, now=T + 1000)


def test_rotation_signs_with_both_secrets() -> None:
    header = sign(["new", "old"], BODY, T)
    assert header.count("v1=") == 2
    assert verify_signature("new", header, BODY, now=T)
    assert verify_signature("old", header, BODY, now=T)


def test_malformed_headers_are_rejected() -> None:
    for header in (None, "", "t=abc,v1=00", "v1=00", f"t={T}", "garbage", f"t={T},v1="):
        assert not verify_signature("s3cret", header, BODY, now=T)
