"""How a refused call is printed: code, message, reason, one line per field violation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from triage.cli.common import describe_rpc_error


class Refused(grpc.RpcError, grpc.Call):
    """A failed call as grpcio raises it: a status code, details and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, message: str, details: Sequence[object]) -> None:
        self._code, self._message = code, message
        status = status_pb2.Status(code=code.value[0], message=message)
        for detail in details:
            packed = any_pb2.Any()
            packed.Pack(detail)  # type: ignore[arg-type]
            status.details.append(packed)
        self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self) -> Any:
        return self._trailers

    def initial_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


def test_field_violations_are_listed_one_per_line() -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field="rule.display_name", description="must not be empty"
            ),
            error_details_pb2.BadRequest.FieldViolation(
                field="rule.actions.persistence.within", description="at most 30 days"
            ),
        ]
    )
    error = Refused(grpc.StatusCode.INVALID_ARGUMENT, "invalid rule", [bad])
    assert describe_rpc_error(error).splitlines() == [
        "INVALID_ARGUMENT: invalid rule",
        "  rule.display_name: must not be empty",
        "  rule.actions.persistence.within: at most 30 days",
    ]


def test_the_reason_is_shown_beside_the_code() -> None:
    info = error_details_pb2.ErrorInfo(reason="TENANT_SUSPENDED", domain="triage")
    error = Refused(grpc.StatusCode.PERMISSION_DENIED, "the tenant is suspended", [info])
    assert describe_rpc_error(error) == (
        "PERMISSION_DENIED: the tenant is suspended [TENANT_SUSPENDED]"
    )


def test_a_plain_status_is_code_and_message() -> None:
    error = Refused(grpc.StatusCode.NOT_FOUND, "ticket #9 not found", [])
    assert describe_rpc_error(error) == "NOT_FOUND: ticket #9 not found"
    assert grpc.StatusCode.NOT_FOUND.value[0] == code_pb2.NOT_FOUND
