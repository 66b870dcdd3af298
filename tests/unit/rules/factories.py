"""Builders for the rules domain tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.rules.domain import (
    Actions,
    CompiledRuleSet,
    Conditions,
    RoutableAlert,
    Rule,
    RuleSet,
    compile_rule_set,
)

T0 = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def make_alert(**overrides: Any) -> RoutableAlert:
    fields: dict[str, Any] = {
        "alert_id": "a-1",
        "tenant_id": "t-1",
        "integration_id": "int-1",
        "provider": "ninjaone",
        "kind": "trigger",
        "series_key": "dev-1/disk.low",
        "condition": "disk.low",
        "severity": 3,
        "title": "Disk C: low",
        "message": "Volume C: 93% used",
        "device_id": "dev-1",
        "device_name": "SRV-DC01",
        "client_id": "c-1",
        "client_name": "Acme Corp",
        "site_id": "s-1",
        "site_name": "Head Office",
        "labels": {},
        "received_at": T0,
    }
    fields.update(overrides)
    return RoutableAlert(**fields)


def make_rule(
    rule_id: str = "r1",
    position: int = 0,
    *,
    conditions: Conditions | None = None,
    actions: Actions | None = None,
    **rule_fields: Any,
) -> Rule:
    return Rule(
        id=rule_id,
        name=f"rule {rule_id}",
        position=position,
        conditions=conditions or Conditions(),
        actions=actions or Actions(),
        **rule_fields,
    )


def make_rules(*rules: Rule, time_zone: str = "UTC", **fields: Any) -> CompiledRuleSet:
    return compile_rule_set(
        RuleSet(
            tenant_id="t-1",
            version=fields.pop("version", 3),
            time_zone=time_zone,
            rules=rules,
            **fields,
        )
    )
