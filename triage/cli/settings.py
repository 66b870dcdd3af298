"""``triage settings show|set``: a tenant's settings, gathered from the services that own
them (today the tickets service: reopen window, occurrence comments, flap damping, storm
protection)."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli.common import CliContext, CliError, emit, parse_duration
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb
from triage.tickets.v1 import tickets_service_pb2_grpc as pb_grpc

_TICKETS = "triage.tickets.v1.TicketsService."
RPCS: dict[str, tuple[str, ...]] = {
    "settings show": (f"{_TICKETS}GetTenantSettings",),
    "settings set": (f"{_TICKETS}UpdateTenantSettings", f"{_TICKETS}GetTenantSettings"),
}
#: Where the per-integration webhook limits are set (they are not tenant-wide).
_INGEST_NOTE = (
    "webhook rate limit and max body are per integration: "
    "triage integrations update ID --rate-limit ... --max-body ..."
)


def _duration_text(value: Any) -> str:
    seconds = int(value.ToTimedelta().total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    raise CliError(f"bad switch {text!r}: use on or off", code=2)


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise CliError(f"bad count {text!r}: use a whole number, e.g. 5", code=2) from exc


def _set_enabled(s: res.TenantSettings, v: str) -> None:
    s.flap_damping.enabled = _flag(v)


def _set_changes(s: res.TenantSettings, v: str) -> None:
    s.flap_damping.changes = _count(v)


def _set_window(s: res.TenantSettings, v: str) -> None:
    s.flap_damping.window.CopyFrom(parse_duration(v))


def _set_storm(s: res.TenantSettings, v: str) -> None:
    s.storm_protection.enabled = _flag(v)


def _set_storm_tickets(s: res.TenantSettings, v: str) -> None:
    s.storm_protection.tickets = _count(v)


def _set_storm_window(s: res.TenantSettings, v: str) -> None:
    s.storm_protection.window.CopyFrom(parse_duration(v))


def _set_reopen(s: res.TenantSettings, v: str) -> None:
    s.reopen_within.CopyFrom(parse_duration(v))


def _set_interval(s: res.TenantSettings, v: str) -> None:
    s.occurrence_comment_interval.CopyFrom(parse_duration(v))


#: ``service.key`` -> (update-mask path, how to put the value in the message).
SETTERS: dict[str, tuple[str, Callable[[res.TenantSettings, str], None]]] = {
    "tickets.reopen_within": ("reopen_within", _set_reopen),
    "tickets.occurrence_comment_interval": ("occurrence_comment_interval", _set_interval),
    "tickets.flap_damping": ("flap_damping.enabled", _set_enabled),
    "tickets.flap_damping.enabled": ("flap_damping.enabled", _set_enabled),
    "tickets.flap_damping.changes": ("flap_damping.changes", _set_changes),
    "tickets.flap_damping.window": ("flap_damping.window", _set_window),
    "tickets.storm_protection": ("storm_protection.enabled", _set_storm),
    "tickets.storm_protection.enabled": ("storm_protection.enabled", _set_storm),
    "tickets.storm_protection.tickets": ("storm_protection.tickets", _set_storm_tickets),
    "tickets.storm_protection.window": ("storm_protection.window", _set_storm_window),
}


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    """Add the ``settings`` command and its subcommands."""
    settings = subparsers.add_parser(
        "settings", help="show or tune the tenant's settings", parents=list(parents)
    )
    sub = settings.add_subparsers(dest="settings_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("show", help="every setting of the tenant", parents=list(parents))
    p.set_defaults(handler=_show)
    p = sub.add_parser(
        "set",
        help="change settings: KEY=VALUE ...",
        parents=list(parents),
        description="Keys: " + ", ".join(SETTERS) + ". Durations like 90s, 15m, 2h, 1d; "
        "switches on/off. Example: triage settings set tickets.flap_damping.window=45m",
    )
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    p.add_argument("--etag", default="", help="fail if the settings changed since this etag")
    p.set_defaults(handler=_set)


def _call(ctx: CliContext, method: str, request: Any) -> Any:
    return ctx.call("tickets", pb_grpc.TicketsServiceStub, method, request)


def flatten(settings: res.TenantSettings) -> dict[str, Any]:
    """The tickets service's settings as ``tickets.*`` keys (what ``set`` takes)."""
    return {
        "tickets.reopen_within": _duration_text(settings.reopen_within),
        "tickets.occurrence_comment_interval": _duration_text(settings.occurrence_comment_interval),
        "tickets.flap_damping.enabled": settings.flap_damping.enabled,
        "tickets.flap_damping.changes": settings.flap_damping.changes,
        "tickets.flap_damping.window": _duration_text(settings.flap_damping.window),
        "tickets.storm_protection.enabled": settings.storm_protection.enabled,
        "tickets.storm_protection.tickets": settings.storm_protection.tickets,
        "tickets.storm_protection.window": _duration_text(settings.storm_protection.window),
        "tickets.etag": settings.etag,
    }


def _print(ctx: CliContext, settings: res.TenantSettings) -> None:
    data = {**flatten(settings), "ingest": _INGEST_NOTE}
    emit(ctx, data, rows=[[k, v] for k, v in data.items()], headers=["setting", "value"])


def _show(ctx: CliContext, args: argparse.Namespace) -> int:
    _print(ctx, _call(ctx, "GetTenantSettings", pb.GetTenantSettingsRequest()).settings)
    return 0


def parse_assignments(assignments: Sequence[str]) -> tuple[res.TenantSettings, list[str]]:
    """``KEY=VALUE`` pairs as the settings message and its update-mask paths."""
    message, paths = res.TenantSettings(), []
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise CliError(f"{item!r}: write KEY=VALUE, e.g. tickets.reopen_within=2h", code=2)
        if key not in SETTERS:
            known = ", ".join(SETTERS)
            raise CliError(f"unknown setting {key!r}; known: {known}", code=2)
        path, setter = SETTERS[key]
        setter(message, value)
        if path not in paths:
            paths.append(path)
    return message, paths


def _set(ctx: CliContext, args: argparse.Namespace) -> int:
    message, paths = parse_assignments(args.assignments)
    message.etag = args.etag
    reply = _call(
        ctx,
        "UpdateTenantSettings",
        pb.UpdateTenantSettingsRequest(
            request_id=str(uuid.uuid4()),
            settings=message,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
    )
    _print(ctx, reply.settings)
    return 0


__all__ = ["RPCS", "SETTERS", "flatten", "parse_assignments", "register"]
