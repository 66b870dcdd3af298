"""Which stored alert a polled alert is: the key lives in the domain (the webhook path
compares it too); re-exported here for the poll clients' users."""

from __future__ import annotations

from services.ingest.domain.identity import AlertFacts, reconcile_key

__all__ = ["AlertFacts", "reconcile_key"]
