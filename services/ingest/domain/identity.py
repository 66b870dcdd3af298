"""Which stored alert a polled alert is: the key the reconciliation compares.

Pure and provider-aware. A webhook alert and the polled alert for the same provider
alert give the same key (tests/unit/ingest/poll/test_identity.py checks each provider),
so the poll worker can tell "active here and there" from "missing here" and
"no longer active there".
"""

from __future__ import annotations

from typing import Protocol


class AlertFacts(Protocol):
    """The normalized fields the key reads (a NormalizedAlert has them)."""

    @property
    def series_key(self) -> str:
        """The alert's series."""
        ...

    @property
    def device_id(self) -> str | None:
        """The device the alert is about."""
        ...

    @property
    def condition(self) -> str:
        """What fired."""
        ...


def reconcile_key(provider: str, alert: AlertFacts) -> str:
    """The key a stored alert and a polled one share when they are the same alert.

    NinjaOne webhooks may carry a ``seriesUid`` its alerts API does not expose, and a
    Tactical RMM alert template need not send the alert id: both compare on device and
    condition (``sourceConfigUid``; the check, task or alert type), which webhook and API
    both carry and which names at most one open alert at a time. Every other provider's
    series key is already the provider's alert id.
    """
    if provider in _BY_DEVICE_AND_CONDITION:
        return f"device:{alert.device_id or '-'}:{alert.condition}"
    return alert.series_key


_BY_DEVICE_AND_CONDITION = frozenset({"ninjaone", "tacticalrmm"})
