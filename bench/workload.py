"""Realistic webhook mixes: repeats of open problems, new problems and resets."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Target:
    """Where one integration's webhooks go."""

    tenant_id: str
    provider: str
    integration_id: str
    secret: str


def _ninja(series: str, status: str, activity_id: int, device: int) -> bytes:
    return orjson.dumps(
        {
            "id": activity_id,
            "activityTime": 1742391675.5 + activity_id,
            "deviceId": device,
            "severity": "MAJOR",
            "priority": "HIGH",
            "seriesUid": series,
            "activityType": "CONDITION",
            "statusCode": status,
            "sourceConfigUid": f"cfg-{series}",
            "sourceName": "Disk Space",
            "subject": f"Disk C: low on device {device}",
            "message": "Disk C: has 4% free",
            "device": {"id": device, "displayName": f"SRV-{device:04d}", "organizationId": 7},
        }
    )


def _generic(series: str, action: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "routing_key": "r",
            "event_action": action,
            "dedup_key": series,
            "payload": {
                "summary": f"Backup job {series} failed",
                "source": f"host-{n % 500}",
                "severity": "error",
                "component": "backup",
                "custom_details": {"n": n},
            },
        }
    )


def _alertmanager(series: str, status: str, n: int) -> bytes:
    labels = {"alertname": "HighCPU", "instance": f"node-{series}", "severity": "warning"}
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": f"g-{series}",
            "status": status,
            "receiver": "triage",
            "groupLabels": {"alertname": "HighCPU"},
            "commonLabels": labels,
            "commonAnnotations": {"summary": "CPU above 90%"},
            "externalURL": "http://am",
            "alerts": [
                {
                    "status": status,
                    "labels": labels,
                    "annotations": {"summary": "CPU above 90%"},
                    "startsAt": f"2025-03-19T13:{n % 60:02d}:{(n // 60) % 60:02d}Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom",
                }
            ],
        }
    )


def mixed_requests(
    targets: list[Target],
    count: int,
    *,
    seed: int = 7,
    open_problems: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """``count`` requests: ~70 % repeats of open problems, ~20 % new problems, ~10 % resets.

    Every request is a distinct delivery (repeats carry a new event id), so each one is a
    real occurrence, not a duplicate. ``offset`` numbers the requests from there, so
    several mixes sent to one gateway never collide. Each request says its ``kind``
    (``trigger`` or ``reset``); the load generator ignores it.
    """
    rng = random.Random(seed)
    open_by_target: dict[int, list[str]] = {i: [] for i in range(len(targets))}
    requests: list[dict[str, Any]] = []
    for n in range(offset, offset + count):
        index = rng.randrange(len(targets))
        target = targets[index]
        problems = open_by_target[index]
        roll = rng.random()
        if problems and roll < 0.7:
            series, kind = rng.choice(problems), "trigger"
        elif problems and roll >= 0.9:
            series, kind = problems.pop(rng.randrange(len(problems))), "reset"
        else:
            series, kind = f"p{n}", "trigger"
            if len(problems) < open_problems:
                problems.append(series)
        requests.append(_request(target, series, kind, n))
    return requests


def _request(target: Target, series: str, kind: str, n: int) -> dict[str, Any]:
    if target.provider == "ninjaone":
        body = _ninja(series, "TRIGGERED" if kind == "trigger" else "RESET", n, hash(series) % 5000)
    elif target.provider == "alertmanager":
        body = _alertmanager(series, "firing" if kind == "trigger" else "resolved", n)
    else:
        body = _generic(series, "trigger" if kind == "trigger" else "resolve", n)
        if kind == "trigger":
            body = body.replace(b'"dedup_key"', f'"client":"n{n}","dedup_key"'.encode(), 1)
    return {
        "kind": kind,
        "path": f"/v1/webhooks/{target.provider}/{target.integration_id}",
        "headers": {"Content-Type": "application/json", "X-Triage-Secret": target.secret},
        "body_b64": base64.b64encode(body).decode(),
    }
