"""The error tree shared by every service; no transport type (the gRPC server and the HTTP
gateway each map an error's class to their own status: triage.runtime.grpc_errors)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ERROR_DOMAIN = "triage.dev"
#: No message, field path or description sent to a caller is longer than this, and no run
#: of it without spaces longer than MAX_ECHO: a huge bad value quoted in an error is echoed
#: as a short prefix only (and never overflows the trailers).
MAX_ERROR_TEXT = 128
MAX_ECHO = 64
_LONG_RUN = re.compile(rf"\S{{{MAX_ECHO + 1},}}")
#: At most this many field violations go back in one error.
MAX_VIOLATIONS = 10


def clip(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` cut to ``limit`` characters and its long unbroken runs (quoted values) to
    MAX_ECHO, each cut marked with an ellipsis."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _LONG_RUN.sub(lambda run: run.group()[: MAX_ECHO - 1] + "…", text)


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request: its path (``rules[2].conditions.message_regex``) and why."""

    field: str
    description: str


class TriageError(Exception):
    """Root of every domain error; ``reason`` is a stable UPPER_SNAKE string."""

    reason: str = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(TriageError):
    """The request is malformed; carries the field violations."""

    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        *,
        violations: Sequence[FieldViolation] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.violations = tuple(violations)

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        """Build the error for a single bad field."""
        return cls(f"{field}: {description}", violations=[FieldViolation(field, description)])


class NotFound(TriageError):
    """The resource does not exist for this tenant (never says whether it exists elsewhere)."""

    reason = "NOT_FOUND"


class AlreadyExists(TriageError):
    """A resource with the same identity already exists."""

    reason = "ALREADY_EXISTS"


class FailedPrecondition(TriageError):
    """The resource is not in a state that allows the operation."""

    reason = "FAILED_PRECONDITION"


class Aborted(TriageError):
    """A concurrency conflict, such as a stale etag."""

    reason = "ABORTED"


class Unauthenticated(TriageError):
    """No valid credentials."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(TriageError):
    """Valid credentials without the scope the call needs."""

    reason = "PERMISSION_DENIED"


class Unavailable(TriageError):
    """A dependency is down; the caller should retry."""

    reason = "UNAVAILABLE"


class ResourceExhausted(TriageError):
    """A limit was hit; the caller should slow down."""

    reason = "RESOURCE_EXHAUSTED"
