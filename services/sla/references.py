"""The notification channels an SLA policy's thresholds name, as references."""

from __future__ import annotations

from collections.abc import Sequence

from services.sla.domain.policy import ThresholdRule
from triage.runtime import Reference, References, require_references


def threshold_channels(thresholds: Sequence[ThresholdRule]) -> list[Reference]:
    """Every channel id of a notify action, with its path in the request."""
    found: list[Reference] = []
    for i, threshold in enumerate(thresholds):
        for j, action in enumerate(threshold.actions):
            notify = action.get("notify")
            if not isinstance(notify, dict):
                continue
            for k, channel_id in enumerate(notify.get("channel_ids") or ()):
                path = f"sla_policy.thresholds[{i}].actions[{j}].notify.channel_ids[{k}]"
                found.append((path, str(channel_id)))
    return found


async def check_thresholds(
    references: References | None, *, tenant_id: str, thresholds: Sequence[ThresholdRule]
) -> None:
    """NOT_FOUND unless every channel the thresholds notify is the tenant's."""
    await require_references(
        references, tenant_id=tenant_id, channels=threshold_channels(thresholds)
    )
