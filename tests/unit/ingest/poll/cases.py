"""One row per provider: its fake, credentials for it, and how to seed active alerts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.ingest.clients.poll import PollCredentials
from tests.fakes.rmm import (
    FakeApi,
    FakeDatto,
    FakeHuntress,
    FakeLevel,
    FakeNinjaOne,
    FakeTacticalRmm,
    datto_alert,
    incident_report,
    level_alert,
    ninja_alert,
    tactical_alert,
)


@dataclass(frozen=True)
class Case:
    """How to test one provider's poll client against its fake."""

    provider: str
    fake: Callable[[], FakeApi]
    credentials: PollCredentials
    alert: Callable[[int], dict[str, Any]]
    alert_id: Callable[[int], str]
    paged: bool
    oauth: bool
    #: The path prefix of the listing (failures are injected there).
    list_path: str
    resolve_path: str
    #: Separate listings per cycle (Huntress lists each open status on its own).
    listings: int = 1

    def __str__(self) -> str:
        return self.provider


ORIGIN = FakeApi.origin
CASES = [
    Case(
        "ninjaone",
        FakeNinjaOne,
        PollCredentials(ORIGIN, "ninja-client", "ninja-secret"),
        lambda i: ninja_alert(f"uid-{i}", 40 + i, f"cfg-{i}"),
        lambda i: f"uid-{i}",
        paged=False,
        oauth=True,
        list_path="/v2/alerts",
        resolve_path="/v2/alert/",
    ),
    Case(
        "datto",
        FakeDatto,
        PollCredentials(ORIGIN, "datto-key", "datto-secret"),
        lambda i: datto_alert(f"a-{i}", f"dev-{i}"),
        lambda i: f"a-{i}",
        paged=True,
        oauth=True,
        list_path="/api/v2/account/alerts/open",
        resolve_path="/api/v2/alert/",
    ),
    Case(
        "tacticalrmm",
        FakeTacticalRmm,
        PollCredentials(ORIGIN, secret="tactical-key"),
        lambda i: tactical_alert(100 + i, f"agent-{i}"),
        lambda i: str(100 + i),
        paged=False,
        oauth=False,
        list_path="/alerts/",
        resolve_path="/alerts/",
    ),
    Case(
        "level",
        FakeLevel,
        PollCredentials(ORIGIN, secret="level-key"),
        lambda i: level_alert(f"alrt_{i:04d}", f"dev_{i}"),
        lambda i: f"alrt_{i:04d}",
        paged=True,
        oauth=False,
        list_path="/v2/alerts",
        resolve_path="/v2/alerts/",
    ),
    Case(
        "huntress",
        FakeHuntress,
        PollCredentials(ORIGIN, "hk", "hs"),
        lambda i: incident_report(48000 + i),
        lambda i: str(48000 + i),
        paged=True,
        oauth=False,
        list_path="/v1/incident_reports",
        resolve_path="/v1/incident_reports/",
        listings=2,
    ),
]
PAGED = [c for c in CASES if c.paged]
OAUTH = [c for c in CASES if c.oauth]
