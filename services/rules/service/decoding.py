"""What the use cases ask of the stored forms: the decoder that reads them as domain values.

Rule conditions and actions, window scopes and logged alerts are stored in the API's forms
(its JSON, serialized alerts); ``convert`` knows them and implements this, so the use cases
never touch a generated message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from services.rules.domain import Actions, RoutableAlert, Rule, WindowScope
from services.rules.domain.correlation import CorrelationRule
from services.rules.domain.records import CorrelationRuleRecord, RuleRecord


class Decoder(Protocol):
    """Reads stored JSON and serialized alerts as domain values."""

    def rule(self, record: RuleRecord) -> Rule:
        """The domain rule of a stored rule."""
        ...

    def correlation_rule(self, record: CorrelationRuleRecord) -> CorrelationRule:
        """The domain correlation rule of a stored one."""
        ...

    def actions(self, stored: Mapping[str, Any] | None) -> Actions:
        """Domain actions of stored actions JSON."""
        ...

    def scope(self, stored: Mapping[str, Any] | None) -> WindowScope:
        """The domain scope of a window's stored scope JSON."""
        ...

    def alert(self, payload: bytes, *, now: datetime | None = None) -> RoutableAlert:
        """The router's view of a serialized alert (no received time: ``now``)."""
        ...
