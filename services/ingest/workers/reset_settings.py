"""Tuning of outbound resets, from ``TRIAGE_OUTBOUND_RESET_*`` when built (never at import)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.ingest.domain.reset_policy import RetryPolicy


class OutboundSettings(BaseSettings):
    """Backoff, attempts and HTTP timeout of the outbound reset worker."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_OUTBOUND_RESET_", extra="ignore", frozen=True
    )

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 8
    max_retry_after_seconds: float = 3600.0
    http_timeout_seconds: float = 10.0
    idle_seconds: float = 30.0

    def policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            base_seconds=self.base_seconds,
            cap_seconds=self.cap_seconds,
            max_attempts=self.max_attempts,
            max_retry_after_seconds=self.max_retry_after_seconds,
        )
