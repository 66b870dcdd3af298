"""Domain errors on the gRPC wire: a status code per error class, ErrorInfo and BadRequest."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from triage.runtime.errors import (
    ERROR_DOMAIN,
    MAX_VIOLATIONS,
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    TriageError,
    Unauthenticated,
    Unavailable,
    clip,
)

#: The status of each error class; a subclass answers as its nearest listed ancestor.
STATUS_CODES: dict[type[TriageError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Aborted: grpc.StatusCode.ABORTED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_code(error: TriageError) -> grpc.StatusCode:
    """The gRPC status code ``error`` is answered with (INTERNAL for an unlisted class)."""
    for klass in type(error).__mro__:
        code = STATUS_CODES.get(klass)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


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
    code: int = status_code(error).value[0]
    return status_pb2.Status(code=code, message=clip(error.message), details=details)
