"""Flap damping's quiet close: every so often, close the flapping tickets whose alert has
stayed reset for the damping window (issue 18). A pass is idempotent across replicas: each
ticket is settled under its row lock and key lock, and a settled ticket is no longer
flapping."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class Settles(Protocol):
    """The use case this loop drives (TicketService.settle_flapping)."""

    async def settle_flapping(self, *, limit: int = 100) -> int:
        """Settle up to ``limit`` quiet flapping tickets; how many it settled."""
        ...


async def run_flap_settle(service: Settles, *, every_seconds: float = 30.0) -> None:
    """Settle quiet flapping tickets every ``every_seconds`` (at once again while a pass
    found a full page)."""
    while True:
        try:
            settled = await service.settle_flapping(limit=100)
            if settled:
                log.info("flapping tickets settled", extra={"tickets": settled})
            if settled >= 100:
                continue
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("flap settle pass failed", exc_info=True)
        await asyncio.sleep(every_seconds)
