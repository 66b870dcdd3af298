"""An alert as the routing consumer receives it, in domain terms."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from services.rules.domain.model import RoutableAlert

RoutingCause = Literal["alert_received", "window_ended"]


@dataclass(frozen=True, slots=True)
class IncomingAlert:
    """One received alert of a batch: its event id (canonical), the alert (its
    ``received_at`` is the decision time unless ``received_known``), its series sequence,
    the alert as it travels (``payload``, serialized) and the trace headers its
    ``alert.routed`` carries."""

    event_id: str
    alert: RoutableAlert
    received_known: bool
    sequence: int
    payload: bytes
    trace_headers: dict[str, str]


@lru_cache(maxsize=4096)
def canonical(tenant_id: str) -> str:
    """A UUID's canonical text (as PostgreSQL prints it), to match rows to events."""
    return str(uuid.UUID(tenant_id))
