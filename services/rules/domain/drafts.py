"""What a write proposes: a rule or window as the caller sent it, before it is stored."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.rules.domain.model import Rule, Violation
from services.rules.domain.windows import WindowScope


class OrderedDraft(Protocol):
    """What a write of either rule kind proposes: its column ``values`` and what is wrong
    with it (paths as the caller names them)."""

    @property
    def values(self) -> Mapping[str, Any]: ...

    @property
    def violations(self) -> tuple[Violation, ...]: ...


@dataclass(frozen=True, slots=True)
class RuleDraft:
    """A rule to store: its column ``values`` (conditions and actions as stored JSON), the
    domain rule they make, and what is wrong with it (paths as the caller names them)."""

    values: Mapping[str, Any]
    rule: Rule
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True)
class WindowDraft:
    """A window to store: its column ``values`` (schedule, scope JSON, name, description),
    its domain ``scope``, whether it has a schedule, the end it asks for, and how the caller
    names a domain field (``path``); it is validated against the tenant's zone."""

    values: Mapping[str, Any]
    scope: WindowScope
    scheduled: bool
    end_override: datetime | None
    path: Callable[[str], str]


@dataclass(frozen=True, slots=True)
class ProposedWindow:
    """A window proposed to Simulate: its column ``values`` (with its id and early end), its
    domain ``scope`` and how the request names a domain field (``path``)."""

    values: Mapping[str, Any]
    scope: WindowScope
    path: Callable[[str], str]


@dataclass(frozen=True, slots=True)
class ProposedRules:
    """A rule set proposed to Simulate: its rules in order (no id: ``new-<index>``), their
    ids, and what is wrong with them (paths as the request names them)."""

    rules: tuple[Rule, ...]
    ids: tuple[str, ...]
    violations: tuple[Violation, ...] = ()
