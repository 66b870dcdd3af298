"""The webhook gateway against a real ingest service, PostgreSQL and NATS."""

from __future__ import annotations

import hashlib
import hmac

import grpc
import orjson
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from nats.js.api import StreamInfo

from tests.integration.ingest.conftest import Ingest, new_id, ninja_trigger
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration


async def _received_events(ingest: Ingest) -> int:
    from nats.aio.client import Client

    nc = Client()
    await nc.connect(ingest.svc.settings.nats_url)
    try:
        js = nc.jetstream()
        info: StreamInfo = await js.stream_info(
            "TRIAGE_ALERT", subjects_filter=f"triage.alert.received.{ingest.tenant_id}.*"
        )
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def test_webhook_is_stored_once_and_redelivery_gets_the_same_answer(
    ingest: Ingest,
) -> None:
    integration_id, secret = await ingest.integration("ninjaone")
    first = await ingest.post("ninjaone", integration_id, ninja_trigger(), secret=secret)
    again = await ingest.post("ninjaone", integration_id, ninja_trigger(), secret=secret)
    assert first.status_code == 202, first.text
    assert again.status_code == 202
    assert first.json()["alert_ids"] == again.json()["alert_ids"]
    assert first.json()["duplicates"] == 0
    assert again.json()["duplicates"] == 1
    listed = await ingest.stub.ListAlertEvents(
        api.ListAlertEventsRequest(), metadata=ingest.md("ingest:read")
    )
    assert len(listed.alert_events) == 1
    alert = listed.alert_events[0]
    assert alert.redelivery_count == 1
    assert alert.series_key == f"{integration_id}:series-1"
    assert alert.kind == pb.ALERT_KIND_TRIGGER
    assert alert.severity == pb.SEVERITY_CRITICAL
    assert alert.device_name == "SRV-01"
    assert not alert.raw_body
    full = await ingest.stub.GetAlertEvent(
        api.GetAlertEventRequest(alert_id=alert.alert_id, view=pb.ALERT_EVENT_VIEW_FULL),
        metadata=ingest.md("ingest:read"),
    )
    assert full.alert_event.raw_body == ninja_trigger()

    async def one_event() -> bool:
        return await _received_events(ingest) == 1

    from tests.integration.runtime.harness import poll

    await poll(one_event)


async def test_authentication_paths(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("ninjaone", allow_query_token=True)
    body = ninja_trigger()
    assert (await ingest.post("ninjaone", integration_id, body)).status_code == 401
    wrong = await ingest.post("ninjaone", integration_id, body, secret="nope")
    unknown = await ingest.post("ninjaone", new_id(), body, secret=secret)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == "application/problem+json"
    bearer = await ingest.post(
        "ninjaone", integration_id, body, headers={"authorization": f"Bearer {secret}"}
    )
    assert bearer.status_code == 202
    query = await ingest.post(
        "ninjaone", integration_id, ninja_trigger("s2", 2), params={"token": secret}
    )
    assert query.status_code == 202
    wrong_provider = await ingest.post("datto", integration_id, body, secret=secret)
    assert wrong_provider.status_code == 401


async def test_level_hmac_good_bad_and_stale(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("level")
    body = orjson.dumps(
        {
            "event_type": "alert_active",
            "event_id": new_id(),
            "occurred_at": "2025-03-19T13:41:15Z",
            "data": {"id": "a-1", "device_id": "d-1", "name": "CPU", "severity": "critical"},
        }
    )

    def sign(key: str, payload: bytes) -> dict[str, str]:
        digest = hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()
        return {"x-level-signature": f"sha256={digest}"}

    good = await ingest.post("level", integration_id, body, headers=sign(secret, body))
    assert good.status_code == 202, good.text
    bad = await ingest.post("level", integration_id, body, headers=sign("x" * 40, body))
    assert bad.status_code == 401
    tampered = await ingest.post("level", integration_id, body + b" ", headers=sign(secret, body))
    assert tampered.status_code == 401
    rotated = await ingest.stub.RotateIntegrationSecret(
        api.RotateIntegrationSecretRequest(
            integration_id=integration_id, overlap=duration_pb2.Duration(seconds=0)
        ),
        metadata=ingest.md(),
    )
    assert rotated.secret and rotated.secret != secret
    from services.ingest.service.integrations import CREDENTIALS_TTL_SECONDS

    assert CREDENTIALS_TTL_SECONDS <= 5
    # The rotation invalidates this replica's cache at once: the old secret is stale now.
    stale = await ingest.post("level", integration_id, body, headers=sign(secret, body))
    assert stale.status_code == 401
    fresh = await ingest.post("level", integration_id, body, headers=sign(rotated.secret, body))
    assert fresh.status_code == 202


async def test_rotation_overlap_keeps_the_old_secret_valid(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("ninjaone")
    rotated = await ingest.stub.RotateIntegrationSecret(
        api.RotateIntegrationSecretRequest(
            integration_id=integration_id, overlap=duration_pb2.Duration(seconds=3600)
        ),
        metadata=ingest.md(),
    )
    old = await ingest.post("ninjaone", integration_id, ninja_trigger("a", 1), secret=secret)
    new = await ingest.post(
        "ninjaone", integration_id, ninja_trigger("b", 2), secret=rotated.secret
    )
    assert old.status_code == new.status_code == 202


async def test_bad_requests_get_problem_details(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("ninjaone", max_body_bytes=1024)
    too_big = await ingest.post("ninjaone", integration_id, b"x" * 5000, secret=secret)
    assert too_big.status_code == 413
    assert too_big.json()["status"] == 413
    unreadable = await ingest.post("ninjaone", integration_id, b"{not json", secret=secret)
    assert unreadable.status_code == 400
    assert unreadable.headers["content-type"] == "application/problem+json"
    media = await ingest.post(
        "ninjaone", integration_id, b"x", secret=secret, headers={"content-type": "image/png"}
    )
    assert media.status_code == 415
    unknown = await ingest.post("nosuchrmm", integration_id, b"{}", secret=secret)
    assert unknown.status_code == 404
    wrong_method = await ingest.http.get(f"/v1/webhooks/ninjaone/{integration_id}")
    assert wrong_method.status_code == 405


async def test_rate_limit_answers_429_with_retry_after(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration(
        "ninjaone", rate_limit=pb.RateLimit(requests_per_second=0.5, burst=2)
    )
    statuses = [
        (await ingest.post("ninjaone", integration_id, ninja_trigger(f"s{i}", i), secret=secret))
        for i in range(3)
    ]
    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert int(statuses[2].headers["retry-after"]) >= 1
    assert "0.5 webhooks/s" in statuses[2].json()["detail"]


async def test_storage_failure_answers_503_and_writes_nothing(ingest: Ingest) -> None:
    import psycopg

    integration_id, secret = await ingest.integration("ninjaone")
    dsn = ingest.svc.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION ingest.fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = '53100'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER fail BEFORE INSERT ON ingest.outbox "
            "FOR EACH ROW EXECUTE FUNCTION ingest.fail()"
        )
        down = await ingest.post("ninjaone", integration_id, ninja_trigger(), secret=secret)
        stored = conn.execute("SELECT count(*) FROM ingest.alert_events").fetchone()
        conn.execute("DROP TRIGGER fail ON ingest.outbox")
    assert down.status_code == 503
    assert down.headers["retry-after"]
    assert stored == (0,)
    retried = await ingest.post("ninjaone", integration_id, ninja_trigger(), secret=secret)
    assert retried.status_code == 202
    assert retried.json()["duplicates"] == 0


async def test_group_commit_reconnects_after_its_connections_are_killed(ingest: Ingest) -> None:
    import psycopg

    integration_id, secret = await ingest.integration("ninjaone")
    first = await ingest.post("ninjaone", integration_id, ninja_trigger("s", 1), secret=secret)
    assert first.status_code == 202
    dsn = ingest.svc.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    # Each writer loop may meet its dead connection once (503, retry later); then it is
    # replaced and every webhook is stored again.
    answers = []
    for n in range(2, 12):
        reply = await ingest.post("ninjaone", integration_id, ninja_trigger("s", n), secret=secret)
        answers.append(reply.status_code)
    assert set(answers) <= {202, 503}
    assert answers.count(503) <= 3
    assert answers[-5:] == [202] * 5


async def test_ingest_alerts_rpc_is_idempotent_and_tenant_scoped(ingest: Ingest) -> None:
    integration_id, _ = await ingest.integration("generic")
    request = api.IngestAlertsRequest(
        request_id="req-1",
        alerts=[
            pb.AlertEvent(
                integration_id=integration_id,
                kind=pb.ALERT_KIND_TRIGGER,
                series_key="backup-job-7",
                condition="backup_failed",
                severity=pb.SEVERITY_HIGH,
                summary="Backup failed",
            )
        ],
    )
    first = await ingest.stub.IngestAlerts(request, metadata=ingest.md())
    again = await ingest.stub.IngestAlerts(request, metadata=ingest.md())
    assert first == again
    other = await ingest.new_tenant("Other MSP")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.stub.GetAlertEvent(
            api.GetAlertEventRequest(alert_id=first.results[0].alert_id),
            metadata=ingest.md("ingest:read", tenant_id=other),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.stub.IngestAlerts(
            api.IngestAlertsRequest(alerts=[pb.AlertEvent(integration_id=integration_id)]),
            metadata=ingest.md(),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_integration_crud_and_scopes(ingest: Ingest) -> None:
    integration_id, _ = await ingest.integration("datto", time_zone="Europe/London")
    got = await ingest.stub.GetIntegration(
        api.GetIntegrationRequest(integration_id=integration_id), metadata=ingest.md("ingest:read")
    )
    assert got.integration.settings.time_zone == "Europe/London"
    assert got.integration.webhook_path == f"/v1/webhooks/datto/{integration_id}"
    renamed = await ingest.stub.UpdateIntegration(
        api.UpdateIntegrationRequest(
            integration=pb.Integration(
                id=integration_id, display_name="Datto EU", etag=got.integration.etag
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        metadata=ingest.md(),
    )
    assert renamed.integration.display_name == "Datto EU"
    assert renamed.integration.settings.time_zone == "Europe/London"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.stub.UpdateIntegration(
            api.UpdateIntegrationRequest(
                integration=pb.Integration(
                    id=integration_id, display_name="stale", etag=got.integration.etag
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=ingest.md(),
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.stub.CreateIntegration(
            api.CreateIntegrationRequest(
                integration=pb.Integration(
                    provider=pb.PROVIDER_DATTO,
                    display_name="x",
                    settings=pb.IntegrationSettings(time_zone="Mars/Olympus"),
                )
            ),
            metadata=ingest.md(),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.stub.DeleteIntegration(
            api.DeleteIntegrationRequest(integration_id=integration_id),
            metadata=ingest.md("ingest:read"),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await ingest.stub.DeleteIntegration(
        api.DeleteIntegrationRequest(integration_id=integration_id), metadata=ingest.md()
    )
    listed = await ingest.stub.ListIntegrations(
        api.ListIntegrationsRequest(), metadata=ingest.md("ingest:read")
    )
    assert integration_id not in [i.id for i in listed.integrations]
