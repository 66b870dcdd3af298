"""Issued tokens are listed and revocable; a tenant can be suspended and resumed (ingest).

A revoked token is refused with UNAUTHENTICATED / TOKEN_REVOKED, also by a freshly started
replica; a suspended tenant's webhooks answer 403 with a problem and its RPCs
PERMISSION_DENIED / TENANT_SUSPENDED until it is resumed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc
import httpx
import pytest
from google.protobuf import field_mask_pb2

from services.ingest.models import SCHEMA, outbox
from services.ingest.wiring import wire
from tests.integration.access.errors import fields_of, reason_of
from tests.integration.ingest.conftest import MIGRATIONS, Ingest, ninja_trigger
from tests.service_harness import running_service
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.runtime.outbox import Outbox

DEADLINE_SECONDS = 10.0


async def refused(call: Callable[[], Awaitable[object]]) -> grpc.aio.AioRpcError | None:
    """The error ``call`` fails with, or None if it succeeds."""
    try:
        await call()
    except grpc.aio.AioRpcError as error:
        return error
    return None


async def until_refused(
    call: Callable[[], Awaitable[object]], code: grpc.StatusCode
) -> grpc.aio.AioRpcError:
    """Poll ``call`` until it fails with ``code`` (bounded by DEADLINE_SECONDS)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        error = await refused(call)
        if error is not None and error.code() == code:
            return error
        assert time.monotonic() < deadline, f"still not {code.name}: {error}"
        await asyncio.sleep(0.05)


async def until_accepted(call: Callable[[], Awaitable[object]]) -> None:
    """Poll ``call`` until it succeeds (bounded by DEADLINE_SECONDS)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (error := await refused(call)) is not None:
        assert time.monotonic() < deadline, f"still refused: {error}"
        await asyncio.sleep(0.05)


async def issue(ingest: Ingest, *scopes: str) -> tapi.IssueTokenResponse:
    """A token for the harness tenant, through IssueToken."""
    reply: tapi.IssueTokenResponse = await ingest.tenants.IssueToken(
        tapi.IssueTokenRequest(tenant_id=ingest.tenant_id, scopes=list(scopes), subject="ci-bot"),
        metadata=ingest.svc.admin_metadata(),
    )
    return reply


def bearer(token: str) -> tuple[tuple[str, str]]:
    """Call metadata carrying ``token``."""
    return (("authorization", f"Bearer {token}"),)


async def test_issued_tokens_are_listed_and_a_revoked_one_is_refused(ingest: Ingest) -> None:
    issued = await issue(ingest, "ingest:read")
    assert issued.token_id
    stub: api_grpc.IngestServiceAsyncStub = ingest.stub

    async def list_integrations() -> object:
        return await stub.ListIntegrations(
            api.ListIntegrationsRequest(), metadata=bearer(issued.token)
        )

    await list_integrations()
    listed = await ingest.tenants.ListTokens(
        tapi.ListTokensRequest(tenant_id=ingest.tenant_id), metadata=ingest.svc.admin_metadata()
    )
    [row] = [t for t in listed.tokens if t.token_id == issued.token_id]
    assert (row.subject, list(row.scopes), row.tenant_id) == (
        "ci-bot",
        ["ingest:read"],
        ingest.tenant_id,
    )
    assert row.expire_time == issued.expire_time and not row.HasField("revoke_time")
    assert "token" not in {f.name for f, _ in row.ListFields()}  # never the token itself

    revoked = await ingest.tenants.RevokeToken(
        tapi.RevokeTokenRequest(token_id=issued.token_id), metadata=ingest.svc.admin_metadata()
    )
    assert revoked.token.HasField("revoke_time") and revoked.token.revoked_by
    error = await until_refused(list_integrations, grpc.StatusCode.UNAUTHENTICATED)
    assert reason_of(error) == "TOKEN_REVOKED"
    assert issued.token_id in (error.details() or "")
    again = await ingest.tenants.RevokeToken(  # idempotent: the first revocation stays
        tapi.RevokeTokenRequest(token_id=issued.token_id), metadata=ingest.svc.admin_metadata()
    )
    assert again.token.revoke_time == revoked.token.revoke_time

    # A replica started afterwards refuses it before its first call.
    async with (
        running_service(
            name="ingest",
            schema=SCHEMA,
            outbox=Outbox(outbox),
            wire=wire,
            migrations=MIGRATIONS,
            database_url=ingest.svc.settings.database_url,
            nats_url=ingest.svc.settings.nats_url,
        ) as fresh,
        grpc.aio.insecure_channel(fresh.grpc_address) as channel,
    ):
        late = await refused(
            lambda: api_grpc.IngestServiceStub(channel).ListIntegrations(
                api.ListIntegrationsRequest(), metadata=bearer(issued.token)
            )
        )
        assert late is not None and late.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(late) == "TOKEN_REVOKED"


async def test_token_rpcs_need_admin_and_check_their_input(ingest: Ingest) -> None:
    issued = await issue(ingest, "ingest:write")
    error = await refused(
        lambda: ingest.tenants.RevokeToken(
            tapi.RevokeTokenRequest(token_id=issued.token_id), metadata=bearer(issued.token)
        )
    )
    assert error is not None and error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await refused(
        lambda: ingest.tenants.ListTokens(tapi.ListTokensRequest(), metadata=ingest.md())
    )
    assert error is not None and error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await refused(
        lambda: ingest.tenants.RevokeToken(
            tapi.RevokeTokenRequest(token_id="not-a-uuid"), metadata=ingest.svc.admin_metadata()
        )
    )
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields_of(error) == ["token_id"]
    error = await refused(
        lambda: ingest.tenants.ListTokens(
            tapi.ListTokensRequest(tenant_id="x"), metadata=ingest.svc.admin_metadata()
        )
    )
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields_of(error) == ["tenant_id"]


async def test_a_token_signed_offline_can_be_revoked(ingest: Ingest) -> None:
    token = ingest.svc.token(None, "admin")  # as `triage admin token` signs one
    principal = ingest.svc.authority.verify(token)
    assert principal.token_id
    reply = await ingest.tenants.RevokeToken(
        tapi.RevokeTokenRequest(token_id=principal.token_id),
        metadata=ingest.svc.admin_metadata(),
    )
    assert reply.token.HasField("revoke_time")
    error = await until_refused(
        lambda: ingest.tenants.ListTenants(tapi.ListTenantsRequest(), metadata=bearer(token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert reason_of(error) == "TOKEN_REVOKED"


async def set_state(ingest: Ingest, tenant_id: str, state: pb.TenantState.ValueType) -> pb.Tenant:
    """Suspend or resume ``tenant_id`` through UpdateTenant."""
    reply = await ingest.tenants.UpdateTenant(
        tapi.UpdateTenantRequest(
            tenant=pb.Tenant(id=tenant_id, state=state),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=ingest.svc.admin_metadata(),
    )
    tenant: pb.Tenant = reply.tenant
    return tenant


async def test_a_suspended_tenant_is_refused_until_resumed(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("ninjaone")
    other = await ingest.new_tenant("Other MSP")
    other_integration, other_secret = await ingest.integration("ninjaone", tenant_id=other)
    assert (
        await ingest.post("ninjaone", integration_id, ninja_trigger(), secret=secret)
    ).status_code == 202

    tenant = await set_state(ingest, ingest.tenant_id, pb.TENANT_STATE_SUSPENDED)
    assert tenant.state == pb.TENANT_STATE_SUSPENDED

    async def webhook() -> httpx.Response:
        return await ingest.post("ninjaone", integration_id, ninja_trigger("s-2", 2), secret=secret)

    deadline = time.monotonic() + DEADLINE_SECONDS
    while (answer := await webhook()).status_code != 403:
        assert time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.05)
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/tenant-suspended") and "suspended" in problem["detail"]
    assert problem["reason"] == "TENANT_SUSPENDED"
    # A wrong secret still learns nothing about the tenant.
    wrong = await ingest.post("ninjaone", integration_id, ninja_trigger(), secret="nope")
    assert wrong.status_code == 401

    def list_integrations() -> Awaitable[object]:
        return ingest.stub.ListIntegrations(api.ListIntegrationsRequest(), metadata=ingest.md())

    error = await until_refused(list_integrations, grpc.StatusCode.PERMISSION_DENIED)
    assert reason_of(error) == "TENANT_SUSPENDED"
    assert "suspended" in (error.details() or "")
    # Other tenants are untouched.
    other_answer = await ingest.post(
        "ninjaone", other_integration, ninja_trigger(), secret=other_secret
    )
    assert other_answer.status_code == 202

    await set_state(ingest, ingest.tenant_id, pb.TENANT_STATE_ACTIVE)
    await until_accepted(list_integrations)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (answer := await webhook()).status_code != 202:
        assert time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.05)


async def test_update_tenant_refuses_an_unknown_state(ingest: Ingest) -> None:
    error = await refused(lambda: set_state(ingest, ingest.tenant_id, pb.TENANT_STATE_UNSPECIFIED))
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields_of(error) == ["tenant.state"]


@pytest.mark.parametrize("scopes", [("ingest:write",)])
async def test_a_tenant_token_cannot_suspend(ingest: Ingest, scopes: tuple[str, ...]) -> None:
    error = await refused(
        lambda: ingest.tenants.UpdateTenant(
            tapi.UpdateTenantRequest(
                tenant=pb.Tenant(id=ingest.tenant_id, state=pb.TENANT_STATE_SUSPENDED),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=ingest.md(*scopes),
        )
    )
    assert error is not None and error.code() == grpc.StatusCode.PERMISSION_DENIED
