"""``triage integrations ...``: RMM integrations and their webhook secrets."""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli.common import (
    CliContext,
    emit,
    enum_name,
    parse_duration,
    print_fields,
    short_time,
)
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb

STUB = api_grpc.IngestServiceStub
PROVIDERS = [
    "ninjaone",
    "tacticalrmm",
    "datto",
    "level",
    "alertmanager",
    "generic",
    "ncentral",
    "huntress",
]


def _provider(name: str) -> Any:
    return pb.Provider.Value(f"PROVIDER_{name.upper()}")


def _settings(args: argparse.Namespace) -> pb.IntegrationSettings:
    settings = pb.IntegrationSettings(
        time_zone=args.time_zone or "", allow_query_token=args.allow_query_token
    )
    for pair in args.field_mapping or []:
        key, _, path = pair.partition("=")
        settings.field_mappings[key] = path
    if args.rate is not None:
        settings.rate_limit.requests_per_second = args.rate
        settings.rate_limit.burst = args.burst or max(1, int(args.rate * 5))
    if args.api_url:
        settings.api.base_url = args.api_url
        settings.api.client_id = args.api_client_id or ""
        settings.api.client_secret = args.api_client_secret or ""
    _poll_flags(settings, args)
    return settings


def _poll_flags(settings: pb.IntegrationSettings, args: argparse.Namespace) -> None:
    """Polling, silence and signing flags onto ``settings`` (unset flags change nothing)."""
    if args.polling is not None:
        settings.polling_enabled = args.polling
    if args.poll_interval:
        settings.poll_interval.CopyFrom(parse_duration(args.poll_interval))
    if args.silent_after:
        settings.silent_after.CopyFrom(parse_duration(args.silent_after))
    if args.silence_alerts is not None:
        settings.silence_alerts_disabled = not args.silence_alerts
    if args.signing_secret:
        settings.webhook_signing_secret = args.signing_secret


def _poll_lines(integration: pb.Integration) -> list[str]:
    """What ``show`` says of polling and silence, for people."""
    settings = integration.settings
    lines: list[str] = []
    if integration.HasField("poll_status"):
        status = integration.poll_status
        interval = settings.poll_interval.seconds if settings.HasField("poll_interval") else 900
        lines.append(f"polling:      every {interval // 60} min")
        lines.append(
            f"last poll:    {short_time(status.last_cycle_time) or 'not yet'}"
            f" {status.outcome or ''}".rstrip()
        )
        lines.append(
            f"              found {status.found}, created {status.created},"
            f" resolved {status.resolved}"
        )
        if status.error:
            lines.append(
                f"poll error:   {status.error} ({status.consecutive_failures} failed in a row)"
            )
        lines.append(f"next poll:    {short_time(status.next_cycle_time)}")
    else:
        lines.append("polling:      off (set API credentials to poll)")
    if integration.HasField("silent_since_time"):
        lines.append(f"SILENT since: {short_time(integration.silent_since_time)}")
    return lines


def _show_secret(ctx: CliContext, integration: pb.Integration, secret: str, url: str) -> None:
    if ctx.json:
        print_fields(ctx, integration, {"secret": secret, "webhook_url": url})
        return
    print_fields(ctx, integration)
    print()
    print(f"webhook URL:  {url}")
    print(f"secret:       {secret}")
    print("The secret is shown only now. Send it as the X-Triage-Secret header")
    print("(or Authorization: Bearer; or ?token= if created with --allow-query-token).")


def create(ctx: CliContext, args: argparse.Namespace) -> int:
    """Create an integration and print its webhook URL and secret."""
    reply = ctx.call(
        "ingest",
        STUB,
        "CreateIntegration",
        api.CreateIntegrationRequest(
            request_id=args.request_id or "",
            integration=pb.Integration(
                provider=_provider(args.provider), display_name=args.name, settings=_settings(args)
            ),
        ),
    )
    _show_secret(ctx, reply.integration, reply.secret, reply.webhook_url)
    return 0


def list_(ctx: CliContext, args: argparse.Namespace) -> int:
    """List integrations."""
    request = api.ListIntegrationsRequest(page_size=args.limit, show_disabled=args.all)
    if args.provider:
        request.provider = _provider(args.provider)
    reply = ctx.call("ingest", STUB, "ListIntegrations", request)
    emit(
        ctx,
        reply,
        rows=[
            [
                i.id,
                enum_name(pb.Provider, i.provider, "PROVIDER_"),
                i.display_name,
                "disabled" if i.disabled else "enabled",
                short_time(i.last_receive_time),
            ]
            for i in reply.integrations
        ],
        headers=["id", "provider", "name", "state", "last webhook"],
    )
    return 0


def show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one integration."""
    reply = ctx.call(
        "ingest", STUB, "GetIntegration", api.GetIntegrationRequest(integration_id=args.id)
    )
    print_fields(ctx, reply.integration)
    if not ctx.json:
        print()
        print("\n".join(_poll_lines(reply.integration)))
    return 0


def update(ctx: CliContext, args: argparse.Namespace) -> int:
    """Rename, enable or disable an integration; change its API credentials, polling,
    silence alerts or signing secret."""
    integration = pb.Integration(id=args.id)
    paths = []
    if args.name:
        integration.display_name = args.name
        paths.append("display_name")
    if args.disable or args.enable:
        integration.disabled = bool(args.disable)
        paths.append("disabled")
    if _changes_settings(args):
        # Settings are replaced as a whole: start from the stored ones (secrets left
        # empty keep the stored secrets).
        current = ctx.call(
            "ingest", STUB, "GetIntegration", api.GetIntegrationRequest(integration_id=args.id)
        ).integration
        integration.etag = current.etag
        integration.settings.CopyFrom(current.settings)
        if args.api_url:
            integration.settings.api.base_url = args.api_url
        if args.api_client_id:
            integration.settings.api.client_id = args.api_client_id
        if args.api_client_secret:
            integration.settings.api.client_secret = args.api_client_secret
        _poll_flags(integration.settings, args)
        paths.append("settings")
    reply = ctx.call(
        "ingest",
        STUB,
        "UpdateIntegration",
        api.UpdateIntegrationRequest(
            integration=integration, update_mask=field_mask_pb2.FieldMask(paths=paths)
        ),
    )
    print_fields(ctx, reply.integration)
    return 0


def _changes_settings(args: argparse.Namespace) -> bool:
    return any(
        value is not None and value != ""
        for value in (
            args.api_url,
            args.api_client_id,
            args.api_client_secret,
            args.polling,
            args.poll_interval,
            args.silent_after,
            args.silence_alerts,
            args.signing_secret,
        )
    )


def _add_poll_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-url", default=None, help="provider API base URL (polling, reset)")
    p.add_argument("--api-client-id", default=None, help="OAuth client id or API key id")
    p.add_argument("--api-client-secret", default=None, help="client secret or API key")
    p.add_argument(
        "--polling",
        dest="polling",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="poll the provider API for missed alerts (default: on with API credentials)",
    )
    p.add_argument("--poll-interval", default=None, help="5m to 60m (default 15m)")
    p.add_argument(
        "--silent-after", default=None, help="alert when nothing arrived for this long (24h)"
    )
    p.add_argument(
        "--silence-alerts",
        dest="silence_alerts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="raise a 'source silent' alert (default: on once it has sent)",
    )
    p.add_argument(
        "--signing-secret", default=None, help="the provider's webhook signing secret (whsec_...)"
    )


def rotate(ctx: CliContext, args: argparse.Namespace) -> int:
    """Issue a new secret; the old one stays valid for the overlap."""
    reply = ctx.call(
        "ingest",
        STUB,
        "RotateIntegrationSecret",
        api.RotateIntegrationSecretRequest(
            integration_id=args.id, overlap=parse_duration(args.overlap)
        ),
    )
    url = ctx.addresses["gateway"].rstrip("/") + reply.integration.webhook_path
    _show_secret(ctx, reply.integration, reply.secret, url)
    return 0


def delete(ctx: CliContext, args: argparse.Namespace) -> int:
    """Delete an integration (its alerts are kept)."""
    ctx.call(
        "ingest", STUB, "DeleteIntegration", api.DeleteIntegrationRequest(integration_id=args.id)
    )
    emit(ctx, {"deleted": args.id}, rows=[[args.id, "deleted"]], headers=["id", "state"])
    return 0


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``integrations``."""
    group = sub.add_parser("integrations", help="RMM integrations").add_subparsers(
        dest="action", required=True
    )
    p = group.add_parser("create", parents=parents, help="create an integration")
    p.add_argument("--provider", required=True, choices=PROVIDERS)
    p.add_argument("--name", required=True)
    p.add_argument("--time-zone", default=None, help="zone of naive local times it sends")
    p.add_argument(
        "--field-mapping", action="append", help="FIELD=dotted.path for templated bodies"
    )
    p.add_argument(
        "--allow-query-token",
        action="store_true",
        help="also accept the secret as ?token= (for tools that can only set a URL)",
    )
    p.add_argument("--rate", type=float, default=None, help="webhooks/s allowed")
    p.add_argument("--burst", type=int, default=None)
    _add_poll_flags(p)
    p.add_argument("--request-id", default=None)
    p.set_defaults(handler=create)
    p = group.add_parser("list", parents=parents, help="list integrations")
    p.add_argument("--provider", choices=PROVIDERS)
    p.add_argument("--all", action="store_true", help="include disabled ones")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(handler=list_)
    p = group.add_parser("show", parents=parents, help="show an integration")
    p.add_argument("id")
    p.set_defaults(handler=show)
    p = group.add_parser(
        "update", parents=parents, help="rename, enable or disable; API, polling, silence"
    )
    p.add_argument("id")
    p.add_argument("--name")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_true")
    state.add_argument("--enable", action="store_true")
    _add_poll_flags(p)
    p.set_defaults(handler=update)
    p = group.add_parser("rotate-secret", parents=parents, help="issue a new secret")
    p.add_argument("id")
    p.add_argument("--overlap", default="24h", help="how long the old secret stays valid")
    p.set_defaults(handler=rotate)
    p = group.add_parser("delete", parents=parents, help="delete an integration")
    p.add_argument("id")
    p.set_defaults(handler=delete)
