"""gRPC channels to other services, carrying this service's identity and trace context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from triage.runtime.auth import TENANT_METADATA_KEY, TokenAuthority


def open_channel(address: str) -> Any:
    """An insecure (mesh-internal) channel with OpenTelemetry client interceptors."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return grpc.aio.insecure_channel(address, interceptors=aio_client_interceptors())  # type: ignore[no-untyped-call]


def service_metadata(
    authority: TokenAuthority, service: str, tenant_id: str | None = None
) -> Sequence[tuple[str, str]]:
    """Call metadata for a service-identity call, optionally acting for ``tenant_id``."""
    metadata = [("authorization", f"Bearer {authority.service_token(service)}")]
    if tenant_id is not None:
        metadata.append((TENANT_METADATA_KEY, tenant_id))
    return metadata
