"""Which of a tenant's channels are its default channels (an SLA notify action's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EnabledChannel:
    """A channel that is not disabled, and whether the tenant marked it as a default."""

    channel_id: str
    default: bool


def default_channel_ids(enabled: Sequence[EnabledChannel]) -> list[str]:
    """The enabled channels marked default, in the given order; when none is (the tenant
    marked none, or only disabled ones), every enabled channel, so that an SLA warning
    is never silently dropped."""
    marked = [c.channel_id for c in enabled if c.default]
    return marked or [c.channel_id for c in enabled]
