"""Rules of the bound tenant, in evaluation order."""

from __future__ import annotations

from services.rules.domain.records import RuleRecord
from services.rules.models import rules
from services.rules.store.ordered import OrderedRows

#: The bound tenant's routing rules.
RULES: OrderedRows[RuleRecord] = OrderedRows(rules, RuleRecord)
