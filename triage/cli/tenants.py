"""``triage tenants ...`` and ``triage tokens issue``."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    enum_name,
    parse_duration,
    print_fields,
    short_time,
)
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc

STUB = tapi_grpc.TenantServiceStub


def create(ctx: CliContext, args: argparse.Namespace) -> int:
    """Register a tenant."""
    reply = ctx.call(
        "ingest",
        STUB,
        "CreateTenant",
        tapi.CreateTenantRequest(
            request_id=args.request_id or "",
            tenant=pb.Tenant(display_name=args.name, time_zone=args.time_zone),
        ),
    )
    print_fields(ctx, reply.tenant)
    return 0


def list_(ctx: CliContext, args: argparse.Namespace) -> int:
    """List tenants."""
    reply = ctx.call("ingest", STUB, "ListTenants", tapi.ListTenantsRequest(page_size=args.limit))
    emit(
        ctx,
        reply,
        rows=[
            [t.id, t.display_name, t.time_zone, short_time(t.create_time)] for t in reply.tenants
        ],
        headers=["id", "name", "time zone", "created"],
    )
    return 0


def show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one tenant."""
    reply = ctx.call("ingest", STUB, "GetTenant", tapi.GetTenantRequest(tenant_id=args.tenant_id))
    print_fields(ctx, reply.tenant)
    return 0


#: ``active``, ``suspended``, ... (the proto's states, whatever the server accepts).
STATES = [
    enum_name(pb.TenantState, v, "TENANT_STATE_")
    for v in pb.TenantState.values()
    if v != pb.TENANT_STATE_UNSPECIFIED
]


def update(ctx: CliContext, args: argparse.Namespace) -> int:
    """Change a tenant's name, time zone or state (only the fields given)."""
    tenant = pb.Tenant(id=args.tenant_id, etag=args.etag or "")
    paths: list[str] = []
    if args.name is not None:
        tenant.display_name = args.name
        paths.append("display_name")
    if args.time_zone is not None:
        tenant.time_zone = args.time_zone
        paths.append("time_zone")
    if args.state is not None:
        tenant.state = pb.TenantState.Value(f"TENANT_STATE_{args.state.upper()}")
        paths.append("state")
    if not paths:
        raise CliError("nothing to update: pass --name, --time-zone or --state", code=2)
    if not args.etag:
        current = ctx.call(
            "ingest", STUB, "GetTenant", tapi.GetTenantRequest(tenant_id=args.tenant_id)
        )
        tenant.etag = current.tenant.etag
    reply = ctx.call(
        "ingest",
        STUB,
        "UpdateTenant",
        tapi.UpdateTenantRequest(
            request_id=str(uuid.uuid4()),
            tenant=tenant,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
    )
    print_fields(ctx, reply.tenant)
    return 0


def issue(ctx: CliContext, args: argparse.Namespace) -> int:
    """Issue a token for a tenant."""
    request = tapi.IssueTokenRequest(
        tenant_id=args.tenant or "", scopes=args.scopes, subject=args.subject or ""
    )
    if args.ttl:
        request.ttl.CopyFrom(parse_duration(args.ttl))
    reply = ctx.call("ingest", STUB, "IssueToken", request)
    if ctx.json:
        emit(ctx, reply)
    else:
        print(reply.token)
    return 0


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``tenants`` and ``tokens``."""
    tenants = sub.add_parser("tenants", help="the tenant registry (admin)").add_subparsers(
        dest="action", required=True
    )
    p = tenants.add_parser("create", parents=parents, help="register a tenant")
    p.add_argument("--name", required=True)
    p.add_argument("--time-zone", default="UTC", help="IANA zone, e.g. Europe/London")
    p.add_argument("--request-id", default=None, help="makes a retry return the first answer")
    p.set_defaults(handler=create)
    p = tenants.add_parser("list", parents=parents, help="list tenants")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(handler=list_)
    p = tenants.add_parser("show", parents=parents, help="show a tenant")
    p.add_argument("tenant_id")
    p.set_defaults(handler=show)
    p = tenants.add_parser("update", parents=parents, help="change a tenant's fields")
    p.add_argument("tenant_id")
    p.add_argument("--name", help="display name")
    p.add_argument("--time-zone", help="IANA zone, e.g. Europe/London")
    p.add_argument("--state", choices=STATES, help="lifecycle state")
    p.add_argument("--etag", default=None, help="fail if the tenant changed since this etag")
    p.set_defaults(handler=update)

    tokens = sub.add_parser("tokens", help="API tokens (admin)").add_subparsers(
        dest="action", required=True
    )
    p = tokens.add_parser("issue", parents=parents, help="issue a signed token")
    p.add_argument("--tenant", required=False, help="tenant id (omit for an admin token)")
    p.add_argument(
        "--scopes",
        nargs="+",
        default=[
            "ingest:write",
            "rules:write",
            "tickets:write",
            "sla:write",
            "notify:write",
        ],
        help="e.g. tickets:read tickets:write, or admin",
    )
    p.add_argument("--ttl", default="30d", help="lifetime, e.g. 12h or 30d")
    p.add_argument("--subject", default=None, help="who the token is for")
    p.set_defaults(handler=issue)
