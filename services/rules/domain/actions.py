"""Merging the actions of `continue_` chains and resolving them to concrete values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from services.rules.domain.model import DEFAULT_PRIORITY_MAP, Actions, Persistence

T = TypeVar("T")


def _first(values: Iterable[T | None]) -> T | None:
    return next((v for v in values if v is not None), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveActions:
    """Actions with every default applied: what the ticketing side should do."""

    create_ticket: bool
    queue: str | None
    assignee: str | None
    close_on_reset: bool
    reset_in_rmm_on_close: bool
    notify_channel_ids: tuple[str, ...]
    persistence: Persistence | None


def merge_actions(chain: Sequence[Actions]) -> Actions:
    """Merge the actions of matched rules, earliest first.

    Each single-valued field takes the first value a rule set (earlier rules win, later
    rules only fill gaps). Priority is one field: the first rule that sets either
    `priority_override` or `priority_map` decides it. `notify_channel_ids` is the union,
    in order of first appearance. `continue_` of the result is that of the last rule.
    """
    if len(chain) == 1:
        return chain[0]
    priority_source = next(
        (a for a in chain if a.priority_override is not None or a.priority_map is not None), None
    )
    return Actions(
        create_ticket=_first(a.create_ticket for a in chain),
        queue=_first(a.queue for a in chain),
        assignee=_first(a.assignee for a in chain),
        title_template=_first(a.title_template for a in chain),
        description_template=_first(a.description_template for a in chain),
        close_on_reset=_first(a.close_on_reset for a in chain),
        reset_in_rmm_on_close=_first(a.reset_in_rmm_on_close for a in chain),
        persistence=_first(a.persistence for a in chain),
        notify_channel_ids=tuple(dict.fromkeys(c for a in chain for c in a.notify_channel_ids)),
        priority_override=None if priority_source is None else priority_source.priority_override,
        priority_map=None if priority_source is None else priority_source.priority_map,
        continue_=chain[-1].continue_,
    )


def resolve_actions(actions: Actions, *, matched: bool) -> EffectiveActions:
    """Apply defaults; an unset `create_ticket` is True for a matched rule, False otherwise."""
    return EffectiveActions(
        create_ticket=matched if actions.create_ticket is None else actions.create_ticket,
        queue=actions.queue,
        assignee=actions.assignee,
        close_on_reset=True if actions.close_on_reset is None else actions.close_on_reset,
        reset_in_rmm_on_close=(
            True if actions.reset_in_rmm_on_close is None else actions.reset_in_rmm_on_close
        ),
        notify_channel_ids=tuple(dict.fromkeys(actions.notify_channel_ids)),
        persistence=actions.persistence,
    )


def priority_for(actions: Actions, severity: int) -> int:
    """Ticket priority: the override, else the map's entry, else DEFAULT_PRIORITY_MAP."""
    if actions.priority_override is not None:
        return actions.priority_override
    if actions.priority_map is not None and severity in actions.priority_map:
        return actions.priority_map[severity]
    return DEFAULT_PRIORITY_MAP.get(severity, DEFAULT_PRIORITY_MAP[3])
