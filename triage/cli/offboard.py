"""``triage tenants export|delete|deletion-status``: take a tenant's data out, then remove
it from every service (offboarding)."""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from triage.cli.common import CliContext, CliError, describe_rpc_error, print_table, to_dict
from triage.cli.progress import Progress, progress
from triage.tenancy.v1 import offboarding_pb2 as api
from triage.tenancy.v1 import offboarding_pb2_grpc as api_grpc

_DATA = "triage.tenancy.v1.TenantDataService"
_OFF = "triage.tenancy.v1.OffboardingService"
RPCS: dict[str, tuple[str, ...]] = {
    "tenants export": (f"{_DATA}.ExportTenantData",),
    "tenants delete": (f"{_OFF}.DeleteTenant", f"{_OFF}.GetTenantDeletion"),
    "tenants deletion-status": (f"{_OFF}.GetTenantDeletion",),
}
#: Every service exports its own rows; the archive holds one JSON-lines file per service.
SERVICES = ("ingest", "rules", "tickets", "sla", "notify")
#: The streaming RPC every service answers an export with.
EXPORT_RPC = "ExportTenantData"
#: An export streams for as long as it takes; this bounds a stalled one.
EXPORT_TIMEOUT_SECONDS = 3600.0


def _export_service(
    ctx: CliContext, service: str, tenant_id: str, out: io.BufferedWriter, bar: Progress
) -> Counter[str]:
    """Write ``service``'s rows of the tenant to ``out`` as JSON lines; rows per table."""
    tables: Counter[str] = Counter()
    with ctx.channel(service) as channel:
        stub = api_grpc.TenantDataServiceStub(channel)
        stream = getattr(stub, EXPORT_RPC)(
            api.ExportTenantDataRequest(tenant_id=tenant_id),
            metadata=tuple(ctx.metadata()),
            timeout=max(ctx.timeout, EXPORT_TIMEOUT_SECONDS),
        )
        try:
            for message in stream:
                table = json.dumps(message.table)
                out.write(f'{{"table":{table},"row":{message.record_json}}}\n'.encode())
                tables[message.table] += 1
                if tables.total() % 1000 == 0:
                    bar.update(bar.done, note=f"{service}: {tables.total()} rows")
        except grpc.RpcError as error:
            raise CliError(
                f"{describe_rpc_error(error)} (export from {service})", code=3
            ) from error
    return tables


def _add_file(archive: tarfile.TarFile, name: str, data: bytes | Path) -> None:
    """Add ``data`` (bytes, or a file's path) to ``archive`` as ``name``."""
    if isinstance(data, Path):
        archive.add(str(data), arcname=name)
        return
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    archive.addfile(info, io.BytesIO(data))


def export(ctx: CliContext, args: argparse.Namespace) -> int:
    """Write every service's rows of a tenant into one .tar.gz (secrets omitted)."""
    out = Path(args.out or f"tenant-{args.tenant_id}.tar.gz")
    manifest: dict[str, Any] = {
        "tenant_id": args.tenant_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "format": "one JSON object per line: {table, row}",
        "secrets": "omitted (integration and channel secrets, tokens): never exported",
        "services": {},
    }
    rows = 0
    with (
        tempfile.TemporaryDirectory() as work,
        progress(ctx, "export", total=len(SERVICES), unit="services") as bar,
    ):
        files: dict[str, Path] = {}
        for service in SERVICES:
            path = Path(work) / f"{service}.jsonl"
            with path.open("wb") as handle:
                tables = _export_service(ctx, service, args.tenant_id, handle, bar)
            files[service] = path
            rows += sum(tables.values())
            manifest["services"][service] = {
                "file": path.name,
                "rows": sum(tables.values()),
                "tables": dict(sorted(tables.items())),
            }
            bar.advance(note=f"{service}: {sum(tables.values())} rows")
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            _add_file(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
            for path in files.values():
                _add_file(archive, path.name, path)
        os.replace(partial, out)
    if ctx.json:
        print(json.dumps({"archive": str(out), **manifest}, indent=2))
    else:
        print(f"exported {rows} rows of tenant {args.tenant_id} to {out}")
    return 0


def _show(ctx: CliContext, deletion: api.TenantDeletion) -> None:
    """Print a deletion: its state and each service's part."""
    if ctx.json:
        print(json.dumps(to_dict(deletion), indent=2))
        return
    state = api.DeletionState.Name(deletion.state).removeprefix("DELETION_STATE_").lower()
    print(f"tenant {deletion.tenant_id}: {state.replace('_', ' ')}")
    print_table(
        ["service", "done", "rows deleted"],
        [
            [
                s.service,
                "yes" if s.done else ("deleting" if s.service == deletion.current_service else ""),
                s.rows_deleted if s.done else "",
            ]
            for s in deletion.services
        ],
    )


def _status(ctx: CliContext, tenant_id: str) -> api.TenantDeletion:
    reply = ctx.call(
        "ingest",
        api_grpc.OffboardingServiceStub,
        "GetTenantDeletion",
        api.GetTenantDeletionRequest(tenant_id=tenant_id),
    )
    deletion: api.TenantDeletion = reply.deletion
    return deletion


def delete(ctx: CliContext, args: argparse.Namespace) -> int:
    """Delete a tenant from every service; show progress until done (or ``--no-wait``)."""
    if not args.yes:
        raise CliError(
            f"this deletes every record of tenant {args.tenant_id} in every service and cannot"
            " be undone (export it first: triage tenants export); add --yes to go ahead",
            code=2,
        )
    reply = ctx.call(
        "ingest",
        api_grpc.OffboardingServiceStub,
        "DeleteTenant",
        api.DeleteTenantRequest(tenant_id=args.tenant_id),
    )
    deletion: api.TenantDeletion = reply.deletion
    if args.no_wait:
        _show(ctx, deletion)
        return 0
    deadline = time.monotonic() + args.wait_timeout
    with progress(ctx, "delete", total=len(deletion.services), unit="services") as bar:
        while deletion.state != api.DELETION_STATE_COMPLETED:
            bar.update(
                sum(s.done for s in deletion.services), note=f"{deletion.current_service}..."
            )
            if time.monotonic() > deadline:
                _show(ctx, deletion)
                raise CliError(
                    f"not finished after {args.wait_timeout:g} s (still at"
                    f" {deletion.current_service}); it carries on: follow it with"
                    f" 'triage tenants deletion-status {args.tenant_id}', or run this"
                    " command again to nudge the service it waits for",
                    code=4,
                )
            time.sleep(0.5)
            deletion = _status(ctx, args.tenant_id)
        bar.update(len(deletion.services), note="done")
    _show(ctx, deletion)
    return 0


def deletion_status(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show where a tenant's deletion stands."""
    _show(ctx, _status(ctx, args.tenant_id))
    return 0


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    """The subcommand group of the registered ``tenants`` command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError(f"{parser.prog} has no subcommands")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``tenants export``, ``tenants delete`` and ``tenants deletion-status``."""
    tenants = _subcommands(sub.choices["tenants"])
    p = tenants.add_parser(
        "export",
        parents=parents,
        help="write the tenant's data from every service to one .tar.gz (secrets omitted)",
    )
    p.add_argument("tenant_id")
    p.add_argument("--out", default=None, help="archive path (default tenant-<id>.tar.gz)")
    p.set_defaults(handler=export)
    p = tenants.add_parser(
        "delete",
        parents=parents,
        help="delete the tenant from every service (irreversible; resumable)",
    )
    p.add_argument("tenant_id")
    p.add_argument("--yes", action="store_true", help="confirm: delete everything")
    p.add_argument("--no-wait", action="store_true", help="start it and return")
    p.add_argument(
        "--wait-timeout", type=float, default=600.0, help="seconds to wait (default 600)"
    )
    p.set_defaults(handler=delete)
    p = tenants.add_parser(
        "deletion-status", parents=parents, help="where a tenant's deletion stands"
    )
    p.add_argument("tenant_id")
    p.set_defaults(handler=deletion_status)
