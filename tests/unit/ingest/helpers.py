"""Shared test helpers: corpus loading and contexts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from services.ingest.domain.alerts import IntegrationContext, NormalizedAlert, Provider
from services.ingest.domain.normalizers import normalize

CORPUS = Path(__file__).parent / "corpus"
RECEIVED = datetime(2025, 3, 19, 15, 0, tzinfo=UTC)


def body(provider: Provider, name: str) -> bytes:
    """Raw bytes of one corpus file."""
    return (CORPUS / provider.value / name).read_bytes()


def context(provider: Provider, **overrides: object) -> IntegrationContext:
    """An integration context with a fixed receive time."""
    return IntegrationContext(provider=provider, received_at=RECEIVED, **overrides)  # type: ignore[arg-type]


def run(provider: Provider, raw: bytes, **overrides: object) -> list[NormalizedAlert]:
    """Normalize raw bytes through the registry."""
    return normalize(provider, raw, None, context(provider, **overrides))


def one(provider: Provider, name: str, **overrides: object) -> NormalizedAlert:
    """Normalize a corpus file that must yield exactly one alert."""
    alerts = run(provider, body(provider, name), **overrides)
    assert len(alerts) == 1
    return alerts[0]
