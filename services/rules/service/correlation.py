"""Correlation rules CRUD: create, read, list, update, delete and reorder a tenant's
correlation rules (the ordered-rules flow of ``service.ordered``). Every change bumps the
tenant's rule-set version, so routing replicas recompile and ``alert.routed`` says which
version correlated it."""

from __future__ import annotations

from services.rules.domain.correlation import CorrelationDraft
from services.rules.domain.records import CorrelationRuleRecord
from services.rules.errors import CorrelationRuleNameTaken, CorrelationRuleNotFound
from services.rules.service.clock import Clock
from services.rules.service.ordered import OrderedRules, RuleKind
from services.rules.store.correlation import CORRELATION_RULES
from triage.runtime import Database

CORRELATION = RuleKind(
    rows=CORRELATION_RULES,
    field="correlation_rule",
    name_taken=CorrelationRuleNameTaken,
    not_found=CorrelationRuleNotFound,
    # Its page tokens are not a routing rules list's.
    token_filters={"of": "correlation"},
)


class CorrelationUseCases(OrderedRules[CorrelationRuleRecord, CorrelationDraft]):
    """A tenant's ordered correlation rules."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        super().__init__(db=db, clock=clock, kind=CORRELATION)
