"""`triage admin token` mints a token offline from the signing key in the environment."""

from __future__ import annotations

import json

import pytest

from triage.cli.main import main
from triage.runtime.auth import TokenAuthority

KEY = "an-operator-signing-key-0123456789abcdef"


def test_mints_an_admin_token_the_services_accept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIAGE_AUTH_SIGNING_KEY", KEY)
    assert main(["admin", "token", "--subject", "admin:alice", "--ttl", "2h"]) == 0
    out, err = capsys.readouterr()
    principal = TokenAuthority(KEY).verify(out.strip())
    assert (principal.subject, principal.tenant_id, principal.scopes) == (
        "admin:alice",
        None,
        frozenset({"admin"}),
    )
    assert principal.token_id and f"triage tokens revoke {principal.token_id}" in err


def test_json_names_the_token_id_and_a_tenant_token_can_be_minted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIAGE_AUTH_SIGNING_KEY", KEY)
    tenant = "0b0c6f4e-5a43-4c7a-9d7e-8f6f1d3b2a10"
    code = main(["admin", "token", "--tenant", tenant, "--scopes", "tickets:read", "--json"])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    principal = TokenAuthority(KEY).verify(shown["token"])
    assert principal.token_id == shown["token_id"] and principal.tenant_id == tenant


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, [], "TRIAGE_AUTH_SIGNING_KEY is not set"),
        ({"TRIAGE_AUTH_SIGNING_KEY": "short"}, [], "at least 32 characters"),
        ({"TRIAGE_AUTH_SIGNING_KEY": KEY}, ["--ttl", "400d"], "--ttl"),
    ],
)
def test_refuses_without_a_usable_key_or_with_a_bad_ttl(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("TRIAGE_AUTH_SIGNING_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["admin", "token", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err
