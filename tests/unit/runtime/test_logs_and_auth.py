"""Structured logs, tokens and secrets of the shared runtime."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from cryptography.exceptions import InvalidTag
from opentelemetry.sdk.trace import TracerProvider

from triage.runtime.auth import Principal, TokenAuthority, principal_from_metadata
from triage.runtime.errors import PermissionDenied, Unauthenticated
from triage.runtime.logs import JsonFormatter, configure_logging
from triage.runtime.secrets import SecretBox

KEY = "unit-test-signing-key-0123456789abcdef012345"


def test_log_lines_are_json_with_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("svc", logging.INFO, __file__, 1, "stored %d", (3,), None)
    record.tenant_id = "t-1"
    with tracer.start_as_current_span("work") as span:
        line = JsonFormatter("ingest").format(record)
        context = span.get_span_context()
    entry = json.loads(line)
    assert entry["message"] == "stored 3"
    assert entry["service"] == "ingest"
    assert entry["tenant_id"] == "t-1"
    assert entry["trace_id"] == format(context.trace_id, "032x")
    assert entry["span_id"] == format(context.span_id, "016x")


def test_http_clients_request_urls_stay_out_of_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    # Chat webhook URLs carry their secret in the path; httpx logs each at INFO.
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    quiet = ("nats", "sqlalchemy.engine", "alembic", "uvicorn.access", "httpx", "httpcore")
    try:
        configure_logging("notify")
        logging.getLogger("httpx").info("HTTP Request: POST https://hooks.example/T0/B0/s3cret")
        logging.getLogger("services.notify.delivery").info("delivered")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name in quiet:
            logging.getLogger(name).setLevel(logging.NOTSET)
    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert json.loads(err.strip())["message"] == "delivered"


def test_tokens_carry_tenant_and_scopes_and_rotate() -> None:
    old = TokenAuthority(KEY)
    token = old.issue(subject="u", tenant_id="t-1", scopes=["tickets:write"])
    new = TokenAuthority("another-signing-key-0123456789abcdef0123", previous=[KEY])
    principal = new.verify(token)
    assert principal == Principal(
        "u", "t-1", frozenset({"tickets:write"}), token_id=principal.token_id
    )
    assert principal.token_id
    assert principal.has_scope("tickets:read")
    assert not principal.has_scope("rules:read")
    with pytest.raises(PermissionDenied):
        principal.require("rules:write")
    with pytest.raises(Unauthenticated):
        TokenAuthority("unrelated-key-0123456789abcdef0123456789").verify(token)
    expired = old.issue(subject="u", tenant_id="t-1", scopes=[], ttl_seconds=-10)
    with pytest.raises(Unauthenticated):
        old.verify(expired)


def test_only_services_may_name_the_tenant_they_act_for() -> None:
    authority = TokenAuthority(KEY)
    service = authority.service_token("tickets")
    user = authority.issue(subject="u", tenant_id="t-1", scopes=["tickets:read"])
    as_service = principal_from_metadata(
        authority, [("authorization", f"Bearer {service}"), ("x-triage-tenant-id", "t-9")]
    )
    as_user = principal_from_metadata(
        authority, [("authorization", f"Bearer {user}"), ("x-triage-tenant-id", "t-9")]
    )
    assert as_service.tenant_id == "t-9"
    assert as_user.tenant_id == "t-1"
    with pytest.raises(Unauthenticated):
        principal_from_metadata(authority, [])


def test_secrets_are_sealed_and_survive_key_rotation() -> None:
    first = base64.b64encode(b"\x01" * 32).decode()
    second = base64.b64encode(b"\x02" * 32).decode()
    sealed = SecretBox.from_config(first).encrypt(b"hunter2", associated_data=b"integration:1")
    rotated = SecretBox.from_config(second, [first])
    assert b"hunter2" not in sealed
    assert rotated.decrypt(sealed, associated_data=b"integration:1") == b"hunter2"
    assert rotated.needs_rotation(sealed)
    with pytest.raises(InvalidTag):
        rotated.decrypt(sealed, associated_data=b"integration:2")
    with pytest.raises(ValueError, match="unknown key"):
        SecretBox.from_config(second).decrypt(sealed, associated_data=b"integration:1")
