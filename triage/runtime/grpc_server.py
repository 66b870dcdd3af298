"""The grpc.aio server every service runs: auth, validation, error translation, health, OTel."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from triage.runtime.auth import (
    Principal,
    TokenAuthority,
    principal_from_metadata,
    reset_principal,
    set_principal,
)
from triage.runtime.errors import InvalidArgument, TriageError
from triage.runtime.grpc_errors import status_code, to_rpc_status
from triage.runtime.metrics import RPC_LATENCY
from triage.runtime.validation import check_request

if TYPE_CHECKING:
    from triage.runtime.audit import AuditRecorder

log = logging.getLogger(__name__)

#: Methods that answer without credentials (probes and discovery).
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

Behavior = Callable[[Any, Any], Awaitable[Any]]
StreamBehavior = Callable[[Any, Any], AsyncIterator[Any]]


class TriageServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Authenticates each call, validates its request against the contract's constraints,
    binds its principal, translates domain errors, times it."""

    def __init__(self, authority: TokenAuthority, service: str) -> None:
        self._authority = authority
        self._service = service
        #: Records mutating calls once set (:func:`triage.runtime.audit_service.install_audit`).
        self.audit: AuditRecorder | None = None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """Wrap the unary handler of the called method."""
        handler: grpc.RpcMethodHandler[Any, Any] = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        if handler.unary_stream:
            # Server streaming (exports): the same checks, before the first message.
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(cast(StreamBehavior, handler.unary_stream), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if not handler.unary_unary:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        authority = self._authority
        service = self._service
        audit = self.audit if self.audit is not None and self.audit.wants(method) else None

        async def wrapped(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            code = "OK"
            principal: Principal | None = None
            try:
                principal = principal_from_metadata(authority, context.invocation_metadata() or ())
                await authority.admit(principal)
                check_request(request)
                token = set_principal(principal)
                try:
                    response = await behavior(request, context)
                finally:
                    reset_principal(token)
                await _record(audit, method, principal, request, response, code)
                return response
            except OverflowError:
                # Arithmetic on in-range values can still overflow (a start near the end of
                # time plus a long duration): the caller's numbers, not a server fault.
                code = "INVALID_ARGUMENT"
                log.info("request overflowed", extra={"method": method}, exc_info=True)
                error = InvalidArgument("a value in the request is out of range")
                await _record(audit, method, principal, request, None, code)
                await context.abort_with_status(rpc_status.to_status(to_rpc_status(error)))
            except TriageError as error:
                code = status_code(error).name
                await _record(audit, method, principal, request, None, code)
                await context.abort_with_status(rpc_status.to_status(to_rpc_status(error)))
            except grpc.aio.AbortError:
                # The handler aborted on its own: its status may already be on the way.
                code = _aborted_code(context)
                await _record(audit, method, principal, request, None, code)
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error", extra={"method": method})
                await _record(audit, method, principal, request, None, code)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                RPC_LATENCY.labels(service, method, code).observe(time.perf_counter() - started)

        return wrapped

    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        authority = self._authority
        # A stream that is not a read (an export) is audited once it ended, however it ended.
        audit = self.audit if self.audit is not None and self.audit.wants(method) else None

        async def wrapped(request: Any, context: Any) -> AsyncIterator[Any]:
            principal: Principal | None = None
            try:
                principal = principal_from_metadata(authority, context.invocation_metadata() or ())
                await authority.admit(principal)
                check_request(request)
                token = set_principal(principal)
                try:
                    async for message in behavior(request, context):
                        yield message
                finally:
                    reset_principal(token)
                await _record(audit, method, principal, request, None, "OK")
            except TriageError as error:
                await _record(audit, method, principal, request, None, status_code(error).name)
                await context.abort_with_status(rpc_status.to_status(to_rpc_status(error)))
            except grpc.aio.AbortError:
                await _record(audit, method, principal, request, None, _aborted_code(context))
                raise
            except Exception:
                log.exception("unhandled error", extra={"method": method})
                await _record(audit, method, principal, request, None, "INTERNAL")
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return wrapped


class GrpcServer:
    """Owns the grpc.aio server and its health service."""

    def __init__(
        self,
        *,
        service: str,
        host: str,
        port: int,
        authority: TokenAuthority,
        extra_interceptors: Sequence[Any] = (),
    ) -> None:
        interceptors: list[Any] = []
        try:
            from opentelemetry.instrumentation.grpc import aio_server_interceptor

            interceptors.append(aio_server_interceptor())  # type: ignore[no-untyped-call]
        except ImportError:  # pragma: no cover - the dependency is pinned
            log.warning("OpenTelemetry gRPC instrumentation unavailable")
        self._interceptor = TriageServerInterceptor(authority, service)
        interceptors.append(self._interceptor)
        interceptors.extend(extra_interceptors)
        self.server: Any = grpc.aio.server(
            interceptors=interceptors,
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 8 << 20)],
        )
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._names: list[str] = []
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {host}:{port}")

    def audit_with(self, recorder: AuditRecorder) -> None:
        """Record every mutating call in ``recorder`` (set before the server starts)."""
        self._interceptor.audit = recorder

    def add(self, register: Callable[[Any], None], full_names: Iterable[str]) -> None:
        """Register a servicer (``add_XServicer_to_server`` partial) and its full names."""
        register(self.server)
        self._names.extend(full_names)

    async def start(self) -> None:
        """Start serving and report SERVING for the server and every service."""
        reflection.enable_server_reflection(
            [*self._names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        await self.server.start()
        for name in ["", *self._names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, then stop, letting in-flight calls finish within ``grace``."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


def _aborted_code(context: Any) -> str:
    """The status a handler aborted with (it called ``context.abort`` itself)."""
    code = getattr(context, "code", lambda: None)()
    return code.name if isinstance(code, grpc.StatusCode) else "ABORTED_BY_HANDLER"


async def _record(
    audit: AuditRecorder | None,
    method: str,
    principal: Principal | None,
    request: Any,
    response: Any,
    code: str,
) -> None:
    """Store the call's audit entry, if it is audited, before its answer is sent (an abort
    sends the status at once, so every path records first)."""
    if audit is not None and principal is not None:
        await audit.record(
            method=method, principal=principal, request=request, response=response, code=code
        )
