"""Lowering a service's CPU priority: its niceness, and its autogroup's when it leads one.

Each case runs in a child process: niceness only ever rises, so the test process keeps its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import logging, os, sys
from pathlib import Path
from triage.runtime.priority import lower_cpu_priority
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
before = os.nice(0)
lower_cpu_priority(int(sys.argv[1]), autogroup=Path(sys.argv[2]))
print("niceness", os.nice(0) - before)
"""


def _run(increment: int, autogroup: Path, *, own_session: bool) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(increment), str(autogroup)],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=own_session,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=30,
    )
    return done.stdout


def test_a_session_leader_lowers_its_niceness_and_its_autogroups(tmp_path: Path) -> None:
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")

    out = _run(5, group, own_session=True)

    assert "niceness 5" in out
    assert group.read_text() == f"{os.nice(0) + 5}\n"


def test_a_process_sharing_its_parents_session_leaves_the_group_alone(tmp_path: Path) -> None:
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")

    out = _run(5, group, own_session=False)

    assert "niceness 5" in out
    assert group.read_text() == "/autogroup-1 nice 0\n"


def test_zero_changes_nothing(tmp_path: Path) -> None:
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")

    out = _run(0, group, own_session=True)

    assert "niceness 0" in out
    assert group.read_text() == "/autogroup-1 nice 0\n"


def test_a_group_that_cannot_be_written_is_logged_not_fatal(tmp_path: Path) -> None:
    out = _run(3, tmp_path, own_session=True)  # a directory: writing it fails

    assert "niceness 3" in out
    assert "autogroup niceness not set" in out
