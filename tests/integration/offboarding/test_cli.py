"""``triage tenants export|delete|deletion-status`` against the running mesh (issue 18):
one archive with a JSON-lines file per service and a manifest, secrets left out; a delete
that needs --yes, shows its progress and ends with nothing of the tenant left."""

from __future__ import annotations

import asyncio
import json
import tarfile
from pathlib import Path

import grpc
import pytest

from tests.integration.offboarding.cluster import Cluster, cluster, seed, tenant_rows
from triage.cli.main import main
from triage.tenancy.v1 import offboarding_pb2 as api
from triage.tenancy.v1 import offboarding_pb2_grpc as api_grpc

pytestmark = pytest.mark.integration
SERVICES = ("ingest", "rules", "tickets", "sla", "notify")


def _argv(running: Cluster, *args: str) -> list[str]:
    token = running.admin()[0][1].removeprefix("Bearer ")
    addresses = [f"--{n}-addr={running.running[n].grpc_address}" for n in SERVICES]
    return [*args, f"--token={token}", *addresses]


async def _cli(
    running: Cluster, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, _argv(running, *args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_export_writes_one_archive_per_tenant_without_secrets(
    fresh_db: str, nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        tenant, other = await running.new_tenant("leaving"), await running.new_tenant("staying")
        await seed(running, tenant)
        await seed(running, other)
        archive = tmp_path / "out.tar.gz"
        code, out, err = await _cli(
            running, capsys, "tenants", "export", tenant, f"--out={archive}", "--progress"
        )
        assert code == 0, err
        assert "export: 5/5 services" in err
        assert str(archive) in out

    with tarfile.open(archive) as opened:
        names = set(opened.getnames())
        assert names == {"manifest.json", *(f"{s}.jsonl" for s in SERVICES)}
        manifest = json.loads(opened.extractfile("manifest.json").read())  # type: ignore[union-attr]
        files = {
            s: opened.extractfile(f"{s}.jsonl").read().decode()  # type: ignore[union-attr]
            for s in SERVICES
        }
    assert manifest["tenant_id"] == tenant
    assert "omitted" in manifest["secrets"]
    for service in SERVICES:
        lines = [json.loads(line) for line in files[service].splitlines()]
        assert len(lines) == manifest["services"][service]["rows"] > 0, service
        assert all(line["row"]["tenant_id"] == tenant for line in lines), service
        assert not any(line["table"] in ("outbox", "inbox", "requests") for line in lines)
    tables = {(s, json.loads(line)["table"]) for s in SERVICES for line in files[s].splitlines()}
    assert {("ingest", "integrations"), ("rules", "rules"), ("tickets", "tickets")} <= tables
    assert ("notify", "channels") in tables
    integration = next(
        json.loads(line)["row"]
        for line in files["ingest"].splitlines()
        if json.loads(line)["table"] == "integrations"
    )
    assert not {"secret", "previous_secret", "api_secret", "signing_secret"} & set(integration)
    channel = next(
        json.loads(line)["row"]
        for line in files["notify"].splitlines()
        if json.loads(line)["table"] == "channels"
    )
    assert "secrets" not in channel
    assert "s" * 32 not in files["notify"]


async def test_export_of_another_tenant_is_not_found_for_a_tenant_token(
    fresh_db: str, nats_url: str
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        tenant, other = await running.new_tenant("one"), await running.new_tenant("two")
        for service in SERVICES:
            stub = api_grpc.TenantDataServiceStub(running.channel(service))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in stub.ExportTenantData(
                    api.ExportTenantDataRequest(tenant_id=other),
                    metadata=running.running["ingest"].metadata(tenant, "tenant:admin"),
                ):
                    pass
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND, service
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in stub.ExportTenantData(
                    api.ExportTenantDataRequest(tenant_id="nope"), metadata=running.admin()
                ):
                    pass
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, service
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in stub.ExportTenantData(api.ExportTenantDataRequest(tenant_id=tenant)):
                    pass
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, service
        # Its own data, with the tenant-admin scope: allowed.
        stub = api_grpc.TenantDataServiceStub(running.channel("ingest"))
        rows = [
            m
            async for m in stub.ExportTenantData(
                api.ExportTenantDataRequest(tenant_id=tenant),
                metadata=running.running["ingest"].metadata(tenant, "tenant:admin"),
            )
        ]
        assert [m.table for m in rows] == ["tenants"]


async def test_delete_needs_yes_shows_progress_and_leaves_nothing(
    fresh_db: str, nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with cluster(fresh_db, nats_url) as running:
        tenant = await running.new_tenant("leaving")
        await seed(running, tenant)
        code, _, err = await _cli(running, capsys, "tenants", "delete", tenant)
        assert code == 2
        assert "--yes" in err
        assert await tenant_rows(fresh_db, tenant) != {}

        code, out, err = await _cli(
            running, capsys, "tenants", "delete", tenant, "--yes", "--progress"
        )
        assert code == 0, err
        assert "delete: 5/5 services" in err
        assert "completed" in out
        assert await tenant_rows(fresh_db, tenant) == {}

        code, out, _ = await _cli(running, capsys, "tenants", "deletion-status", tenant, "--json")
        assert code == 0
        status = json.loads(out)
        assert status["state"] == "DELETION_STATE_COMPLETED"
        assert [s["service"] for s in status["services"]] == [
            "rules",
            "tickets",
            "sla",
            "notify",
            "ingest",
        ]
