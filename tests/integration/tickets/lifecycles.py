"""The lifecycle events each ticket announced, as a word, and how two such words differ.

A ticket's word is its ``ticket.opened``, ``ticket.closed`` and ``ticket.reopened`` events in
commit order, one letter each (``O``, ``C``, ``R``): ``OCRC`` is opened, closed, reopened,
closed. The arrival-order tests compare the words of a late run with the in-order run's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from services.tickets import models
from tests.integration.tickets.harness import Harness
from triage.events.v1.envelope_pb2 import Envelope

LETTERS = {"ticket.opened": "O", "ticket.closed": "C", "ticket.reopened": "R"}
#: Every word a ticket can announce: opened once, then closes and reopens alternating.
_WELL_FORMED = re.compile(r"O(CR)*C?")


async def lifecycles(harness: Harness, tenant_id: str) -> dict[str, str]:
    """Each ticket id of ``tenant_id`` that announced a lifecycle event, with its word."""
    o = models.outbox
    async with harness.db.system_transaction() as session:
        rows = (
            await session.execute(
                select(o.c.type, o.c.envelope)
                .where(o.c.tenant_id == tenant_id, o.c.type.in_(list(LETTERS)))
                .order_by(o.c.id)
            )
        ).all()
    words: dict[str, str] = {}
    for event_type, raw in rows:
        ticket_id = Envelope.FromString(raw).ordering_key
        words[ticket_id] = words.get(ticket_id, "") + LETTERS[event_type]
    return words


def pair_gap(want: str, got: str) -> int | None:
    """How many (closed, reopened) pairs ``got`` announced fewer than ``want`` (negative:
    more); ``None`` when the words differ otherwise (one is not well formed, or they end
    in a different state)."""
    if not (_WELL_FORMED.fullmatch(want) and _WELL_FORMED.fullmatch(got)):
        return None
    if want.endswith("C") != got.endswith("C"):
        return None
    return want.count("R") - got.count("R")


def late_kinds(kinds: Sequence[str], order: Sequence[int]) -> tuple[bool, bool]:
    """Of one series' events (``kinds``: ``"T"`` or ``"R"`` in occurrence order) arriving
    in ``order`` (indexes into ``kinds``): whether a trigger arrived after a reset that
    followed it (a late trigger), and whether a reset arrived after a trigger that followed
    it (a late reset)."""
    late_trigger = late_reset = False
    for at, i in enumerate(order):
        for j in order[at + 1 :]:
            if kinds[j] == "T" and kinds[i] == "R" and j < i:
                late_trigger = True
            if kinds[j] == "R" and kinds[i] == "T" and j < i:
                late_reset = True
    return late_trigger, late_reset


@dataclass(frozen=True, slots=True)
class Gap:
    """One ticket whose late run announced other lifecycle events than in order."""

    #: The case: its script's kinds in occurrence order, and its arrival order.
    kinds: str
    order: tuple[int, ...]
    want: str
    got: str
    #: (closed, reopened) pairs the late run announced fewer (negative: more); ``None``:
    #: the words differ otherwise.
    pairs: int | None

    @property
    def explained(self) -> bool:
        """Whether the difference is one the late paths cannot avoid: pairs missed only
        when a trigger arrived after a reset that followed it (the close and reopen lie in
        the ticket's past: announcing them now would close an open ticket), pairs added only
        when a reset arrived after a trigger that followed it (a reopen withdrawn, announced
        before the reset that breaks its window arrived)."""
        late_trigger, late_reset = late_kinds(self.kinds, self.order)
        if self.pairs is None or self.pairs == 0:
            return False
        return late_trigger if self.pairs > 0 else late_reset


def gaps(kinds: str, order: Sequence[int], want: Sequence[str], got: Sequence[str]) -> list[Gap]:
    """The tickets (``want`` and ``got``: their words, the same tickets in the same order)
    whose words differ."""
    return [
        Gap(kinds, tuple(order), w, g, pair_gap(w, g))
        for w, g in zip(want, got, strict=True)
        if w != g
    ]


def apart(
    want: dict[str, Any], got: dict[str, Any], kinds: str, order: Sequence[int]
) -> tuple[dict[str, Any], dict[str, Any], list[Gap]]:
    """For a tenant that reopens: both outcomes without their closed counts and words, and
    the tickets whose words differ. A late trigger can show that in order a ticket closed
    and reopened before what was announced; a late reset can withdraw an announced reopen
    (``Gap.explained``). The tickets themselves must match."""
    drop = ("closed", "words")
    want_, got_ = (
        {k: v for k, v in want.items() if k not in drop},
        {k: v for k, v in got.items() if k not in drop},
    )
    if want_ != got_:
        return want_, got_, []
    return want_, got_, gaps(kinds, order, want["words"], got["words"])


def pairs(found: Sequence[Gap]) -> tuple[int, int]:
    """The (closed, reopened) pairs the ``found`` tickets announced fewer, and more, than
    in order."""
    counted = [g.pairs for g in found if g.pairs is not None]
    return sum(p for p in counted if p > 0), -sum(p for p in counted if p < 0)


def assert_gap(found: Sequence[Gap], measured: tuple[int, int]) -> None:
    """Every difference is explained, and there is none where ``measured`` (the pairs
    fewer and more one run of this case found) is none. Only their kind is asserted, not
    their number: how many a run meets depends on how the consumer cut its batches."""
    assert [g for g in found if not g.explained] == []
    if measured == (0, 0):
        assert list(found) == [], found
