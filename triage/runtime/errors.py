"""The error tree shared by every service, and its translation to gRPC status details."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

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

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(TriageError):
    """The request is malformed; carries the field violations."""

    code = grpc.StatusCode.INVALID_ARGUMENT
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

    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(TriageError):
    """A resource with the same identity already exists."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class FailedPrecondition(TriageError):
    """The resource is not in a state that allows the operation."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Aborted(TriageError):
    """A concurrency conflict, such as a stale etag."""

    code = grpc.StatusCode.ABORTED
    reason = "ABORTED"


class Unauthenticated(TriageError):
    """No valid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(TriageError):
    """Valid credentials without the scope the call needs."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unavailable(TriageError):
    """A dependency is down; the caller should retry."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


class ResourceExhausted(TriageError):
    """A limit was hit; the caller should slow down."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"


def to_rpc_status(error: TriageError) -> status_pb2.Status:
    """Translate a domain error into a ``google.rpc.Status`` with ErrorInfo and BadRequest."""
    details: list[any_pb2.Any] = []
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    details.append(info)
    if isinstance(error, InvalidArgument) and error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=clip(v.field), description=clip(v.description)
                )
                for v in error.violations[:MAX_VIOLATIONS]
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    code_value = error.code.value[0]
    return status_pb2.Status(
        code=int(code_value) if isinstance(code_value, int) else code_pb2.INTERNAL,
        message=clip(error.message),
        details=details,
    )
