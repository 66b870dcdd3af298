"""The window-end worker: when a hold ends (or windows change), re-route what it held."""

from __future__ import annotations

import asyncio
import logging

from services.rules.service.clock import Clock
from services.rules.service.reroute import WindowEndRouting

log = logging.getLogger(__name__)


class WindowEnds:
    """Sleeps until the next hold ends or ``changed`` is set, then re-routes what is due."""

    def __init__(self, routing: WindowEndRouting, clock: Clock, changed: asyncio.Event) -> None:
        self._routing = routing
        self._clock = clock
        self._changed = changed

    async def run(self) -> None:
        """Forever: sleep until the next hold ends (or windows change), then re-route."""
        while True:
            self._changed.clear()
            try:
                while await self._routing.reroute_due() > 0:
                    pass
                next_end = await self._routing.next_hold_end()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("window-end pass failed; retrying")
                next_end = None
            now = self._clock.now()
            deadline = next_end if next_end is not None else now.replace(year=now.year + 1)
            await self._clock.sleep_until(deadline, self._changed)
