"""Seeded scripts of one series' alerts and arrival orders for the arrival-order tests:
a script is (kind, minutes after T0) steps, ``"T"`` a trigger and ``"R"`` a reset; an
order is a list of indexes into it."""

from __future__ import annotations

import random
from collections.abc import Sequence


def random_script(rng: random.Random) -> list[tuple[str, int]]:
    """1-3 segments of 0-3 triggers, each but maybe the last closed by a reset."""
    out: list[tuple[str, int]] = []
    segments = rng.randint(1, 3)
    for segment in range(segments):
        out += [("T", 0)] * rng.randint(0, 3)
        if segment < segments - 1 or rng.random() < 0.5:
            out.append(("R", 0))
    return [(kind, minute + 1) for minute, (kind, _) in enumerate(out)]


def spaced_script(rng: random.Random) -> list[tuple[str, int]]:
    """1-3 segments of 0-4 triggers 1 or 12 minutes apart, each but maybe the last closed
    by a reset (a persistence delay of 2 in 10 minutes is met by some, not by others)."""
    out: list[tuple[str, int]] = []
    minute = 0
    segments = rng.randint(1, 3)
    for segment in range(segments):
        for _ in range(rng.randint(0, 4)):
            minute += rng.choice((1, 1, 12))
            out.append(("T", minute))
        if segment < segments - 1 or rng.random() < 0.5:
            minute += 1
            out.append(("R", minute))
    return out


def late_triggers_order(steps: Sequence[tuple[str, int]], rng: random.Random) -> list[int]:
    """A random arrival order of ``steps`` in which only triggers are late: of each
    stretch (the triggers before a reset) a random last few arrive after that reset, at
    random later places, in their own order. Resets keep their order and are never late."""
    stretch, stretches = 0, []
    for kind, _ in steps:
        stretches.append(stretch if kind == "T" else -1)
        stretch += kind == "R"
    resets = [i for i, (kind, _) in enumerate(steps) if kind == "R"]
    late: list[int] = []
    for each in range(len(resets)):
        mine = [i for i, s in enumerate(stretches) if s == each]
        late += mine[rng.randint(0, len(mine)) :]
    order = [i for i in range(len(steps)) if i not in late]
    for i in late:
        reset = resets[stretches[i]]
        earliest = order.index(reset) + 1
        before = [order.index(j) + 1 for j in late if j < i and j in order]
        at = rng.randint(max([earliest, *before]), len(order))
        order.insert(at, i)
    return order


def any_order(steps: Sequence[tuple[str, int]], rng: random.Random) -> list[int]:
    """Any permutation of ``steps``."""
    return rng.sample(range(len(steps)), len(steps))


def flapping_script(rng: random.Random) -> list[tuple[str, int]]:
    """3-5 segments of 1-2 triggers, each closed by a reset (the last maybe not), one
    minute apart: at least 5 state changes in 30 minutes, so under the default damping
    the series flaps."""
    out: list[tuple[str, int]] = []
    segments = rng.randint(3, 5)
    for segment in range(segments):
        out += [("T", 0)] * rng.randint(1, 2)
        if segment < segments - 1 or rng.random() < 0.5:
            out.append(("R", 0))
    return [(kind, minute + 1) for minute, (kind, _) in enumerate(out)]
