"""Who may call: ``admin token`` (signed offline from the configured key), ``tokens
revoke|list`` and ``tenants suspend|resume``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    parse_duration,
    print_fields,
    short_time,
    to_dict,
)
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority

STUB = tapi_grpc.TenantServiceStub
_TENANT = "triage.ingest.v1.TenantService"
#: The RPCs each command calls (the CLI completeness test reads this).
RPCS: dict[str, tuple[str, ...]] = {
    "tokens revoke": (f"{_TENANT}.RevokeToken",),
    "tokens list": (f"{_TENANT}.ListTokens",),
    "tenants suspend": (f"{_TENANT}.UpdateTenant",),
    "tenants resume": (f"{_TENANT}.UpdateTenant",),
}
SIGNING_KEY_ENV = "TRIAGE_AUTH_SIGNING_KEY"
ISSUER_ENV = "TRIAGE_AUTH_ISSUER"
MAX_TTL = timedelta(days=365)


def mint_admin_token(
    *, key: str, issuer: str, subject: str, scopes: list[str], tenant: str | None, ttl: timedelta
) -> tuple[str, str, datetime]:
    """Sign a token with ``key``: (token, its jti, its expiry)."""
    if not timedelta(seconds=1) <= ttl <= MAX_TTL:
        raise CliError("--ttl must be between 1s and 365d", code=2)
    try:
        authority = TokenAuthority(key, issuer=issuer)
    except ValueError as exc:
        raise CliError(f"{SIGNING_KEY_ENV}: {exc}", code=2) from exc
    token_id = str(uuid.uuid4())
    token = authority.issue(
        subject=subject,
        tenant_id=tenant,
        scopes=scopes,
        ttl_seconds=int(ttl.total_seconds()),
        token_id=token_id,
    )
    return token, token_id, datetime.now(UTC) + ttl


def admin_token(ctx: CliContext, args: argparse.Namespace) -> int:
    """Mint a token from the signing key in the environment (no call to the mesh)."""
    key = os.environ.get(SIGNING_KEY_ENV, "")
    if not key:
        raise CliError(
            f"{SIGNING_KEY_ENV} is not set: run this where the services' signing key is "
            "(e.g. kubectl exec into a triage pod)",
            code=2,
        )
    ttl = parse_duration(args.ttl).ToTimedelta()
    token, token_id, expires = mint_admin_token(
        key=key,
        issuer=os.environ.get(ISSUER_ENV, "triage"),
        subject=args.subject or f"admin:{getpass.getuser()}",
        scopes=args.scopes,
        tenant=args.tenant,
        ttl=ttl,
    )
    if ctx.json:
        emit(ctx, {"token": token, "token_id": token_id, "expire_time": expires.isoformat()})
    else:
        print(token)
        print(
            f"# token id {token_id}, expires {expires:%Y-%m-%d %H:%M:%SZ}; revoke with "
            f"`triage tokens revoke {token_id}`",
            file=sys.stderr,
        )
    return 0


def revoke(ctx: CliContext, args: argparse.Namespace) -> int:
    """Revoke a token by its id (jti) on every service."""
    reply = ctx.call(
        "ingest",
        STUB,
        "RevokeToken",
        tapi.RevokeTokenRequest(request_id=str(uuid.uuid4()), token_id=args.token_id),
    )
    print_fields(ctx, reply.token)
    return 0


def list_tokens(ctx: CliContext, args: argparse.Namespace) -> int:
    """List issued tokens' metadata (never the tokens)."""
    if args.limit < 1:
        raise CliError("--limit must be at least 1", code=2)
    tokens: list[tapi.IssuedToken] = []
    page_token = ""
    while len(tokens) < args.limit:
        reply = ctx.call(
            "ingest",
            STUB,
            "ListTokens",
            tapi.ListTokensRequest(
                tenant_id=args.tenant or "",
                page_size=min(500, args.limit - len(tokens)),
                page_token=page_token,
            ),
        )
        tokens.extend(reply.tokens)
        page_token = reply.next_page_token
        if not page_token:
            break
    emit(
        ctx,
        {"tokens": [to_dict(t) for t in tokens]},
        rows=[
            (
                t.token_id,
                t.subject,
                " ".join(t.scopes),
                t.tenant_id or "-",
                short_time(t.expire_time),
                "revoked " + short_time(t.revoke_time) if t.HasField("revoke_time") else "",
            )
            for t in tokens
        ],
        headers=["token id", "subject", "scopes", "tenant", "expires", "revoked"],
    )
    return 0


def _set_state(ctx: CliContext, tenant_id: str, state: pb.TenantState.ValueType) -> int:
    tenant = pb.Tenant(id=tenant_id, state=state)  # no etag: a state change is absolute
    reply = ctx.call(
        "ingest",
        STUB,
        "UpdateTenant",
        tapi.UpdateTenantRequest(
            request_id=str(uuid.uuid4()),
            tenant=tenant,
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
    )
    print_fields(ctx, reply.tenant)
    return 0


def suspend(ctx: CliContext, args: argparse.Namespace) -> int:
    """Suspend a tenant: webhooks 403, RPCs PERMISSION_DENIED, timers and deliveries wait."""
    return _set_state(ctx, args.tenant_id, pb.TENANT_STATE_SUSPENDED)


def resume(ctx: CliContext, args: argparse.Namespace) -> int:
    """Resume a suspended tenant (paused timers and deliveries run)."""
    return _set_state(ctx, args.tenant_id, pb.TENANT_STATE_ACTIVE)


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    """The subcommand group of an already registered command (``tenants``, ``tokens``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError(f"{parser.prog} has no subcommands")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``admin token`` and the access actions of ``tokens`` and ``tenants``."""
    admin = sub.add_parser("admin", help="operator bootstrap").add_subparsers(
        dest="action", required=True
    )
    p = admin.add_parser(
        "token",
        parents=parents,
        help=f"mint a token offline from ${SIGNING_KEY_ENV} (default: admin, 1h)",
    )
    p.add_argument("--subject", default=None, help="who it is for (default admin:<user>)")
    p.add_argument("--ttl", default="1h", help="lifetime, e.g. 15m, 12h, 30d (max 365d)")
    p.add_argument("--scopes", nargs="+", default=[ADMIN_SCOPE], help="default: admin")
    p.add_argument("--tenant", default=None, help="tenant id (omit for an admin token)")
    p.set_defaults(handler=admin_token)

    tokens = _subcommands(sub.choices["tokens"])
    p = tokens.add_parser("revoke", parents=parents, help="revoke a token by its id (jti)")
    p.add_argument("token_id")
    p.set_defaults(handler=revoke)
    p = tokens.add_parser("list", parents=parents, help="list issued tokens (metadata)")
    p.add_argument("--tenant", default=None, help="only this tenant's tokens")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(handler=list_tokens)

    tenants = _subcommands(sub.choices["tenants"])
    p = tenants.add_parser("suspend", parents=parents, help="suspend a tenant")
    p.add_argument("tenant_id")
    p.set_defaults(handler=suspend)
    p = tenants.add_parser("resume", parents=parents, help="resume a suspended tenant")
    p.add_argument("tenant_id")
    p.set_defaults(handler=resume)
