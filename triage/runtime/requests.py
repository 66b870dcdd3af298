"""What every servicer and use case asks of a request: who calls, UUID fields, etags."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from triage.runtime.auth import Principal, current_principal
from triage.runtime.errors import InvalidArgument, TriageError


@dataclass(frozen=True, slots=True)
class Caller:
    """The tenant a call acts for and the principal that made it."""

    tenant_id: str
    principal: Principal

    @property
    def is_human(self) -> bool:
        """True unless another Triage service made the call."""
        return not self.principal.is_service


def caller(scope: str) -> Caller:
    """The current call's tenant and principal; PERMISSION_DENIED without ``scope``."""
    principal = current_principal()
    principal.require(scope)
    return Caller(principal.require_tenant(), principal)


def is_uuid(value: str) -> bool:
    """True when ``value`` parses as a UUID."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def require_uuid(value: str, field: str) -> str:
    """``value`` when it is a UUID; INVALID_ARGUMENT naming ``field`` otherwise."""
    if not is_uuid(value):
        raise InvalidArgument.field(field, "must be a UUID")
    return value


def check_etag(given: str, current: str, stale: Callable[[], TriageError]) -> None:
    """Raise ``stale()`` when the caller gave an etag that is not ``current`` (an empty etag
    skips the check: the caller did not ask for one)."""
    if given and given != current:
        raise stale()
