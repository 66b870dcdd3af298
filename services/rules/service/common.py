"""What several use cases share: invalid input as one error, UUID fields."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from services.rules.domain import Violation
from services.rules.errors import RuleInvalid
from triage.runtime import FieldViolation, require_uuid


def invalid(violations: Iterable[Violation], path: Callable[[str], str]) -> RuleInvalid:
    """The error of every violation, each field named by ``path`` (how the caller names it)."""
    named = [FieldViolation(path(v.field_path), v.message) for v in violations]
    return RuleInvalid("; ".join(f"{v.field}: {v.description}" for v in named), violations=named)


def canonical_uuid(value: str, field: str) -> str:
    """``value`` in canonical form when it is a UUID; INVALID_ARGUMENT naming ``field``."""
    return str(uuid.UUID(require_uuid(value, field)))
