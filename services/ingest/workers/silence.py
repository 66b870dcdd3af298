"""The silent-source sweep loop: every minute, raise or clear "source silent" alerts."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.ingest.service.silence import SilenceUseCases
from triage.runtime import wait_event

log = logging.getLogger(__name__)
SILENCE = Counter(
    "triage_source_silence_total", "Source silent alerts raised and cleared", ["change"]
)


class SilenceSettings(BaseSettings):
    """Tuning of the sweep, from ``TRIAGE_SILENCE_*`` when built (never at import)."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_SILENCE_", extra="ignore", frozen=True)

    tick_seconds: float = 60.0


class SilenceWorker:
    """Sweeps for silent sources on this replica (safe on many: see the use case)."""

    def __init__(self, *, service: SilenceUseCases, settings: SilenceSettings | None = None):
        """A worker over ``service``."""
        self.service = service
        self.settings = settings or SilenceSettings()
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Sweep until cancelled."""
        while True:
            try:
                result = await self.service.sweep_silence()
                SILENCE.labels("raised").inc(result.raised)
                SILENCE.labels("cleared").inc(result.cleared)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("silent-source sweep failed")
            self._wake.clear()
            await wait_event(self._wake, self.settings.tick_seconds)
