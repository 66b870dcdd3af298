"""Calls to the five services with the signed-in user's token, and their errors as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.sla.v1 import sla_service_pb2_grpc as sla_grpc
from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc

#: Which stub serves each service.
STUBS: Mapping[str, Any] = {
    "ingest": ingest_grpc.IngestServiceStub,
    "rules": rules_grpc.RulesServiceStub,
    "tickets": tickets_grpc.TicketsServiceStub,
    "sla": sla_grpc.SlaServiceStub,
    "notify": notify_grpc.NotifyServiceStub,
}


@dataclass
class ApiError(Exception):
    """A failed call: its status code name, message, and field violations (field -> text)."""

    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @classmethod
    def from_rpc(cls, error: grpc.aio.AioRpcError) -> ApiError:
        """Translate a gRPC failure, keeping ``google.rpc.BadRequest`` field violations."""
        fields: dict[str, str] = {}
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is not None:
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    for violation in bad.field_violations:
                        fields[violation.field] = violation.description
        return cls(error.code().name, error.details() or error.code().name, fields)


class Mesh:
    """One channel per service, shared by every request; each call carries a user token."""

    def __init__(self, addresses: Mapping[str, str], *, timeout: float = 10.0) -> None:
        self._addresses = dict(addresses)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.timeout = timeout

    def _stub(self, service: str) -> Any:
        channel = self._channels.get(service)
        if channel is None:
            channel = grpc.aio.insecure_channel(self._addresses[service])
            self._channels[service] = channel
        return STUBS[service](channel)

    async def call(self, token: str, service: str, method: str, request: Message) -> Any:
        """Call ``service.method(request)`` as the holder of ``token``; raise :class:`ApiError`."""
        stub = self._stub(service)
        try:
            return await getattr(stub, method)(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as error:
            raise ApiError.from_rpc(error) from error

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()
