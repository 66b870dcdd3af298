"""Webhook bodies for each provider: a trigger, a repeat of it, and its reset.

Built from the ingest corpus (``tests/unit/ingest/corpus``), the real shapes each RMM
sends. The repeat is a new delivery of the same problem (a new event id or time, same
series, device and condition); the reset clears it later than both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[1] / "unit" / "ingest" / "corpus"


def corpus_json(provider: str, name: str) -> dict[str, Any]:
    """One corpus body, parsed."""
    data: dict[str, Any] = json.loads((CORPUS / provider / name).read_text())
    return data


def corpus_text(provider: str, name: str) -> str:
    """One corpus body as text."""
    return (CORPUS / provider / name).read_text()


def dump(data: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ProviderCase:
    """How one provider's lifecycle looks on the wire."""

    provider: str
    trigger: bytes
    repeat: bytes
    reset: bytes
    auth: str = "header"
    content_type: str = "application/json"
    settings: dict[str, Any] = field(default_factory=dict)

    variant: str = ""

    def __str__(self) -> str:
        return f"{self.provider}-{self.variant}" if self.variant else self.provider


def _ninjaone() -> ProviderCase:
    trigger = corpus_json("ninjaone", "condition_triggered.json")
    repeat = copy.deepcopy(trigger)
    repeat["id"] = trigger["id"] + 1
    repeat["activityTime"] = trigger["activityTime"] + 300
    return ProviderCase(
        "ninjaone",
        dump(trigger),
        dump(repeat),
        dump(corpus_json("ninjaone", "condition_reset.json")),
    )


def _tacticalrmm() -> ProviderCase:
    trigger = corpus_json("tacticalrmm", "check_failure.json")
    repeat = {**trigger, "alert_time": "2025-03-19 13:46:15.556209+00:00"}
    return ProviderCase(
        "tacticalrmm",
        dump(trigger),
        dump(repeat),
        dump(corpus_json("tacticalrmm", "check_resolved.json")),
        auth="bearer",
    )


def _datto() -> ProviderCase:
    trigger = corpus_json("datto", "webhook_trigger.json")
    repeat = {**trigger, "timestamp": str(int(trigger["timestamp"]) + 300_000)}
    return ProviderCase(
        "datto",
        dump(trigger),
        dump(repeat),
        dump(corpus_json("datto", "webhook_resolved.json")),
        auth="query",
        settings={"allow_query_token": True},
    )


def _level() -> ProviderCase:
    trigger = corpus_json("level", "alert_active.json")
    repeat = copy.deepcopy(trigger)
    repeat["event_id"] = "5a1c0e2b-7d3f-4c6a-9b8e-2f1a0c9d8e7f"
    repeat["occurred_at"] = "2025-03-19T13:46:16.002Z"
    return ProviderCase(
        "level",
        dump(trigger),
        dump(repeat),
        dump(corpus_json("level", "alert_resolved.json")),
        auth="hmac",
    )


def _alertmanager() -> ProviderCase:
    group = corpus_json("alertmanager", "group_mixed.json")
    firing = group["alerts"][0]

    def notification(status: str, starts: str, ends: str) -> bytes:
        alert = {**firing, "status": status, "startsAt": starts, "endsAt": ends}
        return dump({**group, "status": status, "alerts": [alert], "truncatedAlerts": 0})

    never = "0001-01-01T00:00:00Z"
    return ProviderCase(
        "alertmanager",
        notification("firing", "2025-03-19T13:41:15.556Z", never),
        # The alert fired again: a new episode of the same fingerprint.
        notification("firing", "2025-03-19T13:46:15.556Z", never),
        notification("resolved", "2025-03-19T13:46:15.556Z", "2025-03-19T14:41:15Z"),
        auth="bearer",
    )


def _generic() -> ProviderCase:
    trigger = corpus_json("generic", "trigger.json")
    repeat = copy.deepcopy(trigger)
    repeat["payload"]["timestamp"] = "2025-03-19T02:20:00.000+0100"
    return ProviderCase(
        "generic",
        dump(trigger),
        dump(repeat),
        # PagerDuty Events v2 shape: a resolve names only the dedup key.
        dump(corpus_json("generic", "resolve.json")),
    )


def _generic_full_resolve() -> ProviderCase:
    case = _generic()
    trigger = corpus_json("generic", "trigger.json")
    resolve = {**trigger, "event_action": "resolve"}
    resolve["payload"] = {**trigger["payload"], "timestamp": "2025-03-19T03:15:00.000+0100"}
    return ProviderCase(
        "generic", case.trigger, case.repeat, dump(resolve), variant="resolve-with-payload"
    )


def _ncentral() -> ProviderCase:
    failed = corpus_text("ncentral", "failed.xml")
    repeat = failed.replace("2025-03-09 02:30:00", "2025-03-09 02:35:00").replace(
        "<QualitativeOldState>Normal<", "<QualitativeOldState>Failed<"
    )
    return ProviderCase(
        "ncentral",
        failed.encode(),
        repeat.encode(),
        corpus_text("ncentral", "normal.xml").encode(),
        content_type="application/xml",
    )


CASES: tuple[Callable[[], ProviderCase], ...] = (
    _ninjaone,
    _tacticalrmm,
    _datto,
    _level,
    _alertmanager,
    _generic,
    _generic_full_resolve,
    _ncentral,
)


def all_cases() -> list[ProviderCase]:
    """One case per provider (two for generic: a bare resolve, and one with its payload)."""
    return [make() for make in CASES]


def ninja_trigger(*, series: str, device: int, activity_id: int, at: float) -> bytes:
    """A NinjaOne condition trigger for ``series`` on ``device`` at ``at`` (epoch seconds)."""
    return dump(
        {
            "id": activity_id,
            "activityTime": at,
            "deviceId": device,
            "severity": "MAJOR",
            "priority": "HIGH",
            "seriesUid": series,
            "activityType": "CONDITION",
            "statusCode": "TRIGGERED",
            "status": "Triggered",
            "sourceConfigUid": f"cfg-{series}",
            "sourceName": "Disk Space",
            "subject": f"Disk space low ({series})",
            "message": "Volume C: has 3% free",
            "device": {"id": device, "displayName": f"SRV-{device:03d}", "organizationId": 7},
        }
    )


def ninja_reset(*, series: str, device: int, activity_id: int, at: float) -> bytes:
    """The NinjaOne reset of :func:`ninja_trigger`'s condition."""
    return dump(
        {
            "id": activity_id,
            "activityTime": at,
            "deviceId": device,
            "seriesUid": series,
            "activityType": "CONDITION",
            "statusCode": "RESET",
            "status": "Reset",
            "sourceConfigUid": f"cfg-{series}",
            "sourceName": "Disk Space",
            "subject": f"Disk space back to normal ({series})",
            "message": "Condition reset",
            "device": {"id": device, "displayName": f"SRV-{device:03d}", "organizationId": 7},
        }
    )
