"""Correlation rules of the bound tenant, in evaluation order."""

from __future__ import annotations

from services.rules.domain.records import CorrelationRuleRecord
from services.rules.models import correlation_rules
from services.rules.store.ordered import OrderedRows

#: The bound tenant's correlation rules.
CORRELATION_RULES: OrderedRows[CorrelationRuleRecord] = OrderedRows(
    correlation_rules, CorrelationRuleRecord
)
