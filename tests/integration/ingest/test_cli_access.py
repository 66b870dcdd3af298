"""The ``triage`` CLI's access commands against a real ingest service: tokens list and
revoke, tenants suspend and resume."""

from __future__ import annotations

import json

import pytest

from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.test_cli import _triage

pytestmark = pytest.mark.integration


async def test_tokens_are_listed_revoked_and_a_tenant_suspended_and_resumed(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = ingest.svc.token(None, "admin")
    code, out, _ = await _triage(
        capsys, ingest, admin, "tokens", "issue", "--tenant", ingest.tenant_id,
        "--subject", "dispatch", "--scopes", "tickets:read", "--json",
    )  # fmt: skip
    assert code == 0
    issued = json.loads(out)

    code, out, _ = await _triage(
        capsys, ingest, admin, "tokens", "list", "--tenant", ingest.tenant_id
    )
    assert code == 0
    [line] = [x for x in out.splitlines() if issued["token_id"] in x]
    assert "dispatch" in line and "tickets:read" in line and "revoked" not in line
    assert issued["token"] not in out

    code, out, _ = await _triage(
        capsys, ingest, admin, "tokens", "revoke", issued["token_id"], "--json"
    )
    assert code == 0 and json.loads(out)["revoke_time"]
    code, out, _ = await _triage(capsys, ingest, admin, "tokens", "list", "--json")
    [row] = [t for t in json.loads(out)["tokens"] if t["token_id"] == issued["token_id"]]
    assert row["revoke_time"] and row["revoked_by"] == "test"

    code, out, _ = await _triage(
        capsys, ingest, admin, "tenants", "suspend", ingest.tenant_id, "--json"
    )
    assert code == 0 and json.loads(out)["state"] == "TENANT_STATE_SUSPENDED"
    code, out, _ = await _triage(
        capsys, ingest, admin, "tenants", "resume", ingest.tenant_id, "--json"
    )
    assert code == 0 and json.loads(out)["state"] == "TENANT_STATE_ACTIVE"

    code, _, err = await _triage(capsys, ingest, admin, "tokens", "revoke", "nope")
    assert code == 3 and "token_id" in err
