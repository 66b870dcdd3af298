"""The integrations and channels a rule or maintenance window names, as references.

Only fields a write sets are checked: all of them on create, the masked ones on update
(an unmasked field of the request is ignored by the update, so it is not judged either).
Paths are the API's, as the caller wrote them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from services.rules.domain import Rule, WindowScope
from triage.runtime import Reference, References, require_references


def _written(paths: Collection[str] | None, field: str) -> bool:
    """Whether an update with ``paths`` (None: a create) writes ``field``."""
    if paths is None:
        return True
    return any(field == p or field.startswith(p + ".") for p in paths)


def _listed(prefix: str, ids: Iterable[str]) -> list[Reference]:
    return [(f"{prefix}[{i}]", ref) for i, ref in enumerate(ids)]


def rule_references(
    rule: Rule, paths: Collection[str] | None = None
) -> tuple[list[Reference], list[Reference]]:
    """(integrations, channels) the rule names in the fields this write sets."""
    integrations: list[Reference] = []
    channels: list[Reference] = []
    if _written(paths, "scope_integration_ids"):
        integrations += _listed("rule.scope_integration_ids", rule.integration_ids)
    if _written(paths, "conditions.integration_ids"):
        ids = rule.conditions.integration_ids
        integrations += _listed("rule.conditions.integration_ids", ids)
    if _written(paths, "actions.notification_channel_ids"):
        ids = rule.actions.notify_channel_ids
        channels += _listed("rule.actions.notification_channel_ids", ids)
    return integrations, channels


def window_references(scope: WindowScope, paths: Collection[str] | None = None) -> list[Reference]:
    """The integrations the window's scope names in the fields this write sets."""
    if not _written(paths, "scope.integration_ids"):
        return []
    return _listed("maintenance_window.scope.integration_ids", scope.integration_ids)


async def check_rule(
    references: References | None,
    *,
    tenant_id: str,
    rule: Rule,
    paths: Collection[str] | None = None,
) -> None:
    """NOT_FOUND unless every integration and channel the write names is the tenant's."""
    integrations, channels = rule_references(rule, paths)
    await require_references(
        references, tenant_id=tenant_id, integrations=integrations, channels=channels
    )


async def check_window(
    references: References | None,
    *,
    tenant_id: str,
    scope: WindowScope,
    paths: Collection[str] | None = None,
) -> None:
    """NOT_FOUND unless every integration the window's scope names is the tenant's."""
    await require_references(
        references, tenant_id=tenant_id, integrations=window_references(scope, paths)
    )
