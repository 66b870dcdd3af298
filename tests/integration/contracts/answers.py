"""What a bad request's error must look like, and readers for its details."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

#: Answers that mean the server, not the caller, failed (or a trailer overflowed).
SERVER_FAULTS = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}
#: The longest run of a bad value an error may echo.
ECHO_LIMIT = 64


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """``{field: description}`` of the error's BadRequest detail (empty if none)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: dict[str, str] = {}
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found


def problems(error: grpc.aio.AioRpcError | None, *, contract: bool, echo: str = "x") -> list[str]:
    """What is wrong with answering a bad request with ``error`` (None: it was accepted)."""
    if error is None:
        return ["accepted"] if contract else []
    code = error.code()
    if code in SERVER_FAULTS:
        return [f"{code.name}: {error.details()!r:.160}"]
    found: list[str] = []
    if contract and code != grpc.StatusCode.INVALID_ARGUMENT:
        found.append(f"{code.name} instead of INVALID_ARGUMENT")
    if contract and code == grpc.StatusCode.INVALID_ARGUMENT and not violations(error):
        found.append("INVALID_ARGUMENT without field violations")
    texts = [error.details() or "", *(f"{k} {v}" for k, v in violations(error).items())]
    if any(echo * (ECHO_LIMIT + 1) in text for text in texts):
        found.append("echoes more than 64 characters of the value")
    return found
