"""What reads and queries answer, before the API renders them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from services.rules.domain.compiler import CompiledRuleSet
from services.rules.domain.correlation import Correlation
from services.rules.domain.decision import Decision
from services.rules.domain.model import RoutableAlert
from services.rules.domain.records import OrderedRecord, WindowRecord
from services.rules.domain.simulation import OutcomeCounts
from services.rules.domain.windows import CompiledWindowSet

WindowState = Literal["scheduled", "active", "ended"]
R = TypeVar("R", bound=OrderedRecord)


@dataclass(frozen=True, slots=True)
class WindowView:
    """A stored window and its state now: the next start (scheduled) or current end (active)."""

    record: WindowRecord
    state: WindowState
    next_start: datetime | None = None
    current_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class RulePage(Generic[R]):
    """One page of rules (routing or correlation), the rule-set version, and the token of the
    next page ("": none)."""

    rules: tuple[R, ...]
    rule_set_version: int
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class Reordered(Generic[R]):
    """The rules (routing or correlation) in their new order and the rule-set version the
    reorder made."""

    rules: tuple[R, ...]
    rule_set_version: int


@dataclass(frozen=True, slots=True)
class WindowPage:
    """One page of windows and the token of the next page ("": none)."""

    windows: tuple[WindowView, ...]
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A decision with what explains it: the compiled rules and windows, the alert as
    decided on, and the instant; and the alert's correlation, when a correlation rule
    matched (docs/CORRELATION.md)."""

    decision: Decision
    rules: CompiledRuleSet
    windows: CompiledWindowSet
    alert: RoutableAlert
    at: datetime
    correlation: Correlation | None = None


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """A rule in a simulation: its index in the proposal (-1: not proposed) and counts."""

    rule_id: str
    name: str
    proposed_index: int
    current: OutcomeCounts
    proposed: OutcomeCounts | None = None


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """A window in a simulation: alerts it suppressed under the proposal and in the log."""

    window_id: str
    name: str
    current_suppressed: int
    proposed_suppressed: int = 0


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Stored alerts replayed through proposed rules and windows, beside what was decided."""

    alerts_evaluated: int
    truncated: bool
    rule_set_version: int
    proposed_total: OutcomeCounts
    current_total: OutcomeCounts
    rules: tuple[RuleOutcome, ...]
    windows: tuple[WindowOutcome, ...]
