"""One alert, one series, whichever way its events came: a NinjaOne webhook reset of a
trigger that polling created resets that trigger's series at once (issue 17's gap), and
the trigger webhook of that firing, delayed past its reset and a cycle, still joins it."""

from __future__ import annotations

import time

import orjson
import psycopg
import pytest

from tests.fakes.rmm import FakeNinjaOne, ninja_alert, serving
from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.ledger import libpq
from tests.integration.ingest.polling import alert_events, api_settings, first_cycle, run_cycle
from tests.integration.ingest.test_polling import ninja_webhook
from triage.ingest.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration
GRACE_SECONDS = 0.5


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look for due cycles often, and a grace period a test can wait out."""
    monkeypatch.setenv("TRIAGE_POLL_TICK_SECONDS", "0.1")
    monkeypatch.setenv("TRIAGE_POLL_GRACE_SECONDS", str(GRACE_SECONDS))


def ninja_reset(
    device_id: int, config_uid: str, activity_id: int, series: str, at: float = 1742391999.0
) -> bytes:
    """The NinjaOne reset webhook of ``ninja_webhook(device_id, config_uid, ...)``, which
    occurred at ``at`` (after that trigger)."""
    body = orjson.loads(ninja_webhook(device_id, config_uid, activity_id, series))
    body.update(statusCode="RESET", status="Reset", activityTime=at)
    return orjson.dumps(body)


def ninja_trigger_at(
    device_id: int, config_uid: str, activity_id: int, series: str, at: float
) -> bytes:
    """``ninja_webhook(...)`` of a firing that occurred at ``at``."""
    body = orjson.loads(ninja_webhook(device_id, config_uid, activity_id, series))
    body.update(activityTime=at)
    return orjson.dumps(body)


async def test_a_webhook_reset_resets_the_series_polling_created(
    ingest: Ingest, fresh_db: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with serving(fake) as url:
        integration_id, secret = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        await first_cycle(fresh_db, integration_id)
        [polled] = await alert_events(ingest, integration_id)
        assert polled.labels["triage.origin"] == "poll"

        # The trigger webhook was lost; its reset arrives, naming the series by seriesUid.
        fake.alerts = []
        sent = await ingest.post(
            "ninjaone", integration_id, ninja_reset(42, "cfg-1", 902, "s-1"), secret=secret
        )
        assert sent.status_code in (200, 202), sent.text
        assert sent.json()["duplicates"] == 0
        events = await alert_events(ingest, integration_id)
        assert [e.kind for e in events] == [pb.ALERT_KIND_TRIGGER, pb.ALERT_KIND_RESET]
        assert events[1].series_key == polled.series_key
        assert "triage.reset_origin" not in events[1].labels

        # The series is closed here: polling past the grace period resets nothing more.
        for _ in range(5):
            row = await run_cycle(fresh_db, integration_id)
            assert row.last_resolved == 0
        assert len(await alert_events(ingest, integration_id)) == 2

        # The alert fires again by webhook (after the reset): a new trigger, and its reset
        # keeps its series.
        again = await ingest.post(
            "ninjaone",
            integration_id,
            ninja_trigger_at(42, "cfg-1", 903, "s-2", at=1742392100.0),
            secret=secret,
        )
        assert again.json()["duplicates"] == 0
        cleared = await ingest.post(
            "ninjaone",
            integration_id,
            ninja_reset(42, "cfg-1", 904, "s-2", at=1742392200.0),
            secret=secret,
        )
        assert cleared.json()["duplicates"] == 0
        later = (await alert_events(ingest, integration_id))[2:]
        assert [e.kind for e in later] == [pb.ALERT_KIND_TRIGGER, pb.ALERT_KIND_RESET]
        assert later[0].series_key == later[1].series_key != polled.series_key


async def test_a_webhook_reset_of_another_condition_keeps_its_own_series(
    ingest: Ingest, fresh_db: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with serving(fake) as url:
        integration_id, secret = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        await first_cycle(fresh_db, integration_id)
        [polled] = await alert_events(ingest, integration_id)
        sent = await ingest.post(
            "ninjaone", integration_id, ninja_reset(42, "cfg-2", 905, "s-9"), secret=secret
        )
        assert sent.json()["duplicates"] == 0
        reset = (await alert_events(ingest, integration_id))[1]
        assert reset.series_key != polled.series_key
        assert reset.series_key.endswith(":s-9")


async def polled_open(db_url: str, integration_id: str) -> dict[str, str]:
    """The integration's ``polled_open`` map (reconcile key -> polled trigger id)."""
    async with await psycopg.AsyncConnection.connect(libpq(db_url)) as conn:
        cursor = await conn.execute(
            "SELECT polled_open FROM ingest.integration_polls WHERE integration_id = %s",
            (integration_id,),
        )
        row = await cursor.fetchone()
    assert row is not None
    return dict(row[0])


async def test_a_trigger_webhook_later_than_its_reset_and_a_cycle_joins_the_polled_series(
    ingest: Ingest, fresh_db: str
) -> None:
    fake = FakeNinjaOne()
    fake.alerts = [ninja_alert("uid-1", 42, "cfg-1")]
    async with serving(fake) as url:
        integration_id, secret = await ingest.integration(
            "ninjaone", **api_settings(url, fake.client_id, fake.client_secret)
        )
        await first_cycle(fresh_db, integration_id)
        [polled] = await alert_events(ingest, integration_id)
        fake.alerts = []
        reset = await ingest.post(
            "ninjaone", integration_id, ninja_reset(42, "cfg-1", 902, "s-1"), secret=secret
        )
        assert reset.status_code in (200, 202), reset.text
        await run_cycle(fresh_db, integration_id)
        # The cycle after the reset let go of the polled trigger.
        assert await polled_open(fresh_db, integration_id) == {}

        # The trigger webhook of the same firing (it occurred before the reset) comes last.
        late = await ingest.post(
            "ninjaone", integration_id, ninja_webhook(42, "cfg-1", 901, "s-1"), secret=secret
        )
        assert late.status_code in (200, 202), late.text
        events = await alert_events(ingest, integration_id)
        assert [e.kind for e in events] == [
            pb.ALERT_KIND_TRIGGER,
            pb.ALERT_KIND_RESET,
            pb.ALERT_KIND_TRIGGER,
        ]
        assert late.json()["duplicates"] == 0
        assert events[2].alert_id == late.json()["alert_ids"][0]
        assert events[2].series_key == polled.series_key

        # The series stays closed: that trigger happened before the reset, so the cycles
        # past the grace period reset nothing more (they used to write a redundant
        # inactive reset on it, which tickets ignored).
        started = time.monotonic()
        cycles = 0
        while cycles < 3 or time.monotonic() - started < 3 * GRACE_SECONDS:
            row = await run_cycle(fresh_db, integration_id)
            assert row.last_resolved == 0
            cycles += 1
        assert len(await alert_events(ingest, integration_id)) == 3
