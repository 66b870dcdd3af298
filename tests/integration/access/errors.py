"""Reading a gRPC refusal's reason and field violations (google.rpc details)."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def reason_of(error: grpc.aio.AioRpcError) -> str:
    """The ``google.rpc.ErrorInfo`` reason of a refused call ("" if none)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


def fields_of(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by a refused call's ``google.rpc.BadRequest``."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    return []
