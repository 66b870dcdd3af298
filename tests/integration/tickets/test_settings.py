"""Tenant ticket settings over gRPC and the CLI (issue 18): defaults, masked updates with
an etag, bounds, scopes, tenancy, and the ``ticket.settings_changed`` event."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from services.tickets.domain.tickets import Damping
from tests.integration.tickets.harness import AUTHORITY, Harness, new_tenant, token
from tests.integration.tickets.test_api import _violations
from triage.cli.main import main
from triage.runtime.events import unpack
from triage.tickets.v1 import events_pb2 as tickets_events
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb

pytestmark = pytest.mark.integration


def _span(**kw: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(timedelta(**kw))
    return out


def _update(settings: res.TenantSettings, *paths: str) -> pb.UpdateTenantSettingsRequest:
    return pb.UpdateTenantSettingsRequest(
        request_id=str(uuid.uuid4()),
        settings=settings,
        update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
    )


async def test_defaults_then_a_masked_update_with_etag_and_event(harness: Harness) -> None:
    tenant, other = new_tenant(), new_tenant()
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        got = (
            await stub.GetTenantSettings(
                pb.GetTenantSettingsRequest(), metadata=token(tenant, "tickets:read")
            )
        ).settings
        assert got.flap_damping.enabled and got.flap_damping.changes == 5
        assert got.flap_damping.window.ToTimedelta() == timedelta(minutes=30)
        assert got.reopen_within.ToTimedelta() == timedelta(0) and got.etag == "v0"
        changed = res.TenantSettings(
            reopen_within=_span(hours=2),
            flap_damping=res.FlapDamping(changes=7, window=_span(minutes=45)),
            etag=got.etag,
        )
        reply = await stub.UpdateTenantSettings(
            _update(changed, "reopen_within", "flap_damping.window"), metadata=token(tenant)
        )
        after = reply.settings
        assert after.reopen_within.ToTimedelta() == timedelta(hours=2)
        assert after.flap_damping.window.ToTimedelta() == timedelta(minutes=45)
        assert after.flap_damping.changes == 5  # not in the mask: unchanged
        assert after.flap_damping.enabled and after.etag == "v1"
        stored = await harness.service.get_settings(tenant_id=tenant)
        assert stored.damping == Damping(enabled=True, changes=5, window=timedelta(minutes=45))
        # A stale etag is ABORTED; the other tenant still has the defaults.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTenantSettings(
                _update(changed, "reopen_within"), metadata=token(tenant)
            )
        assert caught.value.code() == grpc.StatusCode.ABORTED
        assert (await harness.service.get_settings(tenant_id=other)).reopen_within == timedelta(0)
    [event] = await harness.events(tenant, "ticket.settings_changed")
    payload = unpack(event, tickets_events.TenantSettingsChanged)
    assert list(payload.changed_paths) == ["reopen_within", "flap_damping.window"]
    assert payload.actor == "alice" and payload.settings.etag == "v1"


@pytest.mark.parametrize(
    ("settings", "paths", "field"),
    [
        (res.TenantSettings(), [], "update_mask"),
        (res.TenantSettings(), ["closed_statuses"], "update_mask.paths[0]"),
        (
            res.TenantSettings(flap_damping=res.FlapDamping(changes=1)),
            ["flap_damping.changes"],
            "settings.flap_damping.changes",
        ),
        (res.TenantSettings(), ["flap_damping.changes"], "settings.flap_damping.changes"),
        (
            res.TenantSettings(flap_damping=res.FlapDamping(window=_span(seconds=5))),
            ["flap_damping.window"],
            "settings.flap_damping.window",
        ),
        (res.TenantSettings(), ["flap_damping"], "settings.flap_damping.window"),
        (
            res.TenantSettings(reopen_within=_span(days=31)),
            ["reopen_within"],
            "settings.reopen_within",
        ),
    ],
)
async def test_bad_settings_are_invalid_argument_with_the_field(
    harness: Harness, settings: res.TenantSettings, paths: list[str], field: str
) -> None:
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTenantSettings(_update(settings, *paths), metadata=token(new_tenant()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _violations(caught.value)


async def test_reading_does_not_allow_writing(harness: Harness) -> None:
    async with harness.channel() as channel:
        stub = harness.stub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTenantSettings(
                _update(res.TenantSettings(reopen_within=_span(hours=1)), "reopen_within"),
                metadata=token(new_tenant(), "tickets:read"),
            )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_cli_shows_and_sets_settings(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = new_tenant()
    user = AUTHORITY.issue(subject="dana", tenant_id=tenant, scopes=["tickets:write"])
    base = ["--token", user, "--tickets-addr", f"127.0.0.1:{harness.server.port}"]

    async def run(*argv: str, code: int = 0) -> tuple[str, str]:
        capsys.readouterr()
        got = await asyncio.to_thread(main, [*argv, *base])
        captured = capsys.readouterr()
        assert got == code, captured.err
        return captured.out, captured.err

    shown, _ = await run("settings", "show")
    assert "tickets.flap_damping.enabled" in shown and "30m" in shown
    out, _ = await run(
        "settings",
        "set",
        "tickets.reopen_within=2h",
        "tickets.flap_damping=off",
        "tickets.flap_damping.changes=8",
        "--json",
    )
    data = json.loads(out)
    assert data["tickets.reopen_within"] == "2h"
    assert data["tickets.flap_damping.enabled"] is False
    assert data["tickets.flap_damping.changes"] == 8
    stored = await harness.service.get_settings(tenant_id=tenant)
    assert not stored.damping.enabled and stored.reopen_within == timedelta(hours=2)
    _, err = await run("settings", "set", "tickets.nope=1", code=2)
    assert "unknown setting 'tickets.nope'" in err and "tickets.reopen_within" in err
    _, err = await run("settings", "set", "tickets.flap_damping.changes=1", code=3)
    assert "flap_damping.changes" in err
    _, err = await run("settings", "set", "tickets.reopen_within=soon", code=2)
    assert "bad duration" in err
