"""Every id a caller writes that names another service's object must be the caller's.

Rules name integrations (ingest) and notification channels (notify); SLA thresholds name
channels. An id of another tenant's object (or of none) is NOT_FOUND, the same answer for
both, so the reply never says whether the object exists elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from triage.runtime.errors import NotFound, Unavailable

#: (field path in the request, the id written there)
Reference = tuple[str, str]


class ReferenceNotFound(NotFound):
    """A referenced integration or channel is not one of the caller's tenant."""

    reason = "REFERENCE_NOT_FOUND"


class References(Protocol):
    """Answers which ids are not the tenant's (:class:`triage.runtime.peers.PeerDirectory`)."""

    async def missing_integrations(self, tenant_id: str, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are not integrations of the tenant."""
        ...

    async def missing_channels(self, tenant_id: str, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are not notification channels of the tenant."""
        ...


async def require_references(
    references: References | None,
    *,
    tenant_id: str,
    integrations: Sequence[Reference] = (),
    channels: Sequence[Reference] = (),
) -> None:
    """Return if every referenced object is the tenant's; NOT_FOUND naming the first that
    is not. Without a way to check (None), any reference is refused as UNAVAILABLE."""
    if not integrations and not channels:
        return
    if references is None:
        raise Unavailable("references to other services' objects cannot be checked here")
    for kind, refs, missing in (
        ("integration", integrations, references.missing_integrations),
        ("notification channel", channels, references.missing_channels),
    ):
        if not refs:
            continue
        absent = set(await missing(tenant_id, [i for _, i in refs]))
        for path, ref in refs:
            if ref in absent:
                raise ReferenceNotFound(f"{path}: {kind} {ref!r} not found")
