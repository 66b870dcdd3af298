"""Normalizers: a raw webhook body in, provider-neutral alerts out (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from services.ingest.domain.alerts import (
    IntegrationContext,
    NormalizationError,
    NormalizedAlert,
    Provider,
)

from . import alertmanager, datto, generic, huntress, level, ncentral, ninjaone, tacticalrmm

Normalizer = Callable[[bytes, str | None, IntegrationContext], list[NormalizedAlert]]

NORMALIZERS: Mapping[Provider, Normalizer] = MappingProxyType(
    {
        Provider.NINJAONE: ninjaone.normalize,
        Provider.TACTICALRMM: tacticalrmm.normalize,
        Provider.DATTO: datto.normalize,
        Provider.LEVEL: level.normalize,
        Provider.ALERTMANAGER: alertmanager.normalize,
        Provider.GENERIC: generic.normalize,
        Provider.NCENTRAL: ncentral.normalize,
        Provider.HUNTRESS: huntress.normalize,
    }
)

__all__ = ["NORMALIZERS", "Normalizer", "normalize"]


def normalize(
    provider: Provider | str, raw: bytes, content_type: str | None, ctx: IntegrationContext
) -> list[NormalizedAlert]:
    """Normalize one webhook body from `provider`; NormalizationError if it is unreadable."""
    try:
        key = Provider(provider)
    except ValueError as exc:
        raise NormalizationError(
            "unknown_provider", field="provider", detail=str(provider)
        ) from exc
    return NORMALIZERS[key](raw, content_type, ctx)
