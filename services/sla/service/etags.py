"""The etag of a versioned resource (its version) and the check every change makes."""

from __future__ import annotations

from services.sla.errors import EtagMismatch
from triage.runtime import check_etag


def check_version(etag: str, version: int) -> None:
    """ABORTED (``EtagMismatch``) when the caller's ``etag`` is not ``version`` (an empty
    etag skips the check)."""
    check_etag(
        etag, str(version), lambda: EtagMismatch(f"etag {etag!r} is stale (current {version})")
    )
