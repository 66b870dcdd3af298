"""A channel's writable state and the delivery settings the claimer applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.notify.domain.model import ChannelKind
from services.notify.domain.quiet_hours import QuietHours


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel's writable state as stored: proto-shaped JSON plus plaintext secrets."""

    display_name: str
    kind: ChannelKind
    config: dict[str, Any]
    secrets: dict[str, str]
    disabled: bool
    quiet_hours: dict[str, Any] | None
    rate_limit: dict[str, Any] | None
    digest: dict[str, Any] | None
    template: dict[str, Any] | None
    default: bool = False


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """A channel's delivery settings as the worker needs them."""

    quiet_windows: tuple[QuietHours, ...]
    hold_critical: bool
    rate_max: int
    rate_period: timedelta
    digest_window: timedelta
    digest_min: int
