"""The service's decoder: stored JSON and serialized alerts (the API's forms) as domain values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.rules.convert.alerts import alert_of
from services.rules.convert.common import from_json
from services.rules.convert.correlation import correlation_from_row, correlation_rule
from services.rules.convert.rules import actions, rule, rule_from_row
from services.rules.convert.windows import stored_scope
from services.rules.domain import Actions, RoutableAlert, Rule, WindowScope
from services.rules.domain.correlation import CorrelationRule
from services.rules.domain.records import CorrelationRuleRecord, RuleRecord
from triage.rules.v1 import resources_pb2 as pb


class ProtoDecoder:
    """Reads what the rules schema and the decision log hold in the API's forms."""

    def rule(self, record: RuleRecord) -> Rule:
        """The domain rule of a stored rule (a violation is the compiler's to find)."""
        return rule(rule_from_row(record), [])

    def correlation_rule(self, record: CorrelationRuleRecord) -> CorrelationRule:
        """The domain correlation rule of a stored one (a violation is the compiler's)."""
        return correlation_rule(correlation_from_row(record), [])

    def actions(self, stored: Mapping[str, Any] | None) -> Actions:
        """Domain actions of stored actions JSON (a tenant's defaults)."""
        return actions(from_json(stored, pb.Actions()))

    def scope(self, stored: Mapping[str, Any] | None) -> WindowScope:
        """The domain scope of a window's stored scope JSON."""
        return stored_scope(stored)

    def alert(self, payload: bytes, *, now: datetime | None = None) -> RoutableAlert:
        """The router's view of a serialized alert (no received time: ``now``)."""
        return alert_of(payload, now=now)
