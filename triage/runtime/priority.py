"""Lowering a process's CPU priority so that it really yields to its neighbours.

On Linux with scheduler autogroups (``/proc/sys/kernel/sched_autogroup_enabled``, on by
default on desktop and VM kernels) the CPU is shared first between sessions, then between
the processes of a session by their nice values. A process that leads its own session
(the dev stack starts every service with ``setsid``) is alone in its group, so
``os.nice`` alone changes nothing against the other services: the group's own nice value,
``/proc/self/autogroup``, is what weighs. Measured here: two busy loops in separate
sessions on one core split it 50/50 at nice 0 vs 10; with the group's nice set, 90/10.
Inside a container's cgroup the autogroup is not used and ``os.nice`` is what counts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")


def lower_cpu_priority(increment: int, *, autogroup: Path = AUTOGROUP) -> None:
    """Add ``increment`` to this process's niceness, and to its autogroup's if it leads one.

    The autogroup is changed only when this process leads its session: otherwise the
    group is shared with the process that started it, which must keep its priority.
    """
    if increment <= 0:
        return
    niceness = os.nice(increment)
    if os.getsid(0) != os.getpid() or not autogroup.exists():
        return
    try:
        autogroup.write_text(f"{niceness}\n")
    except OSError as exc:  # read-only /proc, or a kernel without autogroups
        log.info("autogroup niceness not set: %s", exc)
