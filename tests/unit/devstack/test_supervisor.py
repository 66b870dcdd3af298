"""Supervisor behaviour with tiny Python children: prefixing, restarts, signals, group kill."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from triage.devstack._util import process_alive, wait_until
from triage.devstack.supervisor import RestartPolicy, Supervisor

REPO_ROOT = Path(__file__).resolve().parents[3]
FAST = RestartPolicy(initial_backoff=0.01, max_backoff=0.05, max_restarts=3, stable_after=60.0)


async def eventually(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``predicate`` until it holds, failing the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def script(tmp_path: Path, name: str, body: str) -> list[str]:
    """Write a child program and return its command line."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def read_pids(path: Path) -> list[int]:
    """Pids appended one per line by a child."""
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split()]


@pytest.fixture
async def sup() -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(policy=FAST, grace=5.0, output=io.StringIO(), color=False)
    try:
        yield supervisor
    finally:
        await supervisor.stop()


def output_of(supervisor: Supervisor) -> str:
    assert isinstance(supervisor.output, io.StringIO)
    return supervisor.output.getvalue()


async def test_prefixes_every_line_with_a_fixed_width_name(sup: Supervisor, tmp_path: Path):
    argv = script(
        tmp_path,
        "talk",
        """
        import sys, time
        print("hello")
        print("two words", file=sys.stderr, flush=True)
        time.sleep(60)
        """,
    )
    await sup.start("rules", argv, env={"PYTHONUNBUFFERED": "1"})
    await eventually(lambda: "two words" in output_of(sup))
    lines = output_of(sup).splitlines()
    assert "rules    | hello" in lines
    assert "rules    | two words" in lines


def test_colored_prefix_resets_after_the_name():
    out = io.StringIO()
    supervisor = Supervisor(output=out, color=True)
    supervisor.emit("ingest", "up")
    supervisor.emit("sla", "up")
    first, second = out.getvalue().splitlines()
    assert first == "\033[36mingest  \033[0m | up"
    assert second.startswith("\033[33msla")


async def test_restarts_a_crashed_child_until_it_stays_up(sup: Supervisor, tmp_path: Path):
    pids = tmp_path / "pids"
    argv = script(
        tmp_path,
        "flaky",
        f"""
        import os, sys, time
        with open({str(pids)!r}, "a") as fh:
            fh.write(f"{{os.getpid()}}\\n")
        runs = len(open({str(pids)!r}).read().split())
        if runs < 3:
            sys.exit(3)
        time.sleep(60)
        """,
    )
    await sup.start("flaky", argv)
    await eventually(lambda: len(read_pids(pids)) == 3)
    last = read_pids(pids)[-1]
    await eventually(lambda: sup.pid("flaky") == last)
    assert sup.restarts("flaky") == 2
    assert sup.exit_codes("flaky") == [3, 3]
    assert "flaky exited with code 3; restarting" in output_of(sup)
    assert "flaky" not in sup.gave_up


async def test_gives_up_after_max_restarts(sup: Supervisor, tmp_path: Path):
    await sup.start("broken", script(tmp_path, "broken", "raise SystemExit(1)"))
    await asyncio.wait_for(sup.gave_up_event.wait(), 10)
    assert sup.gave_up == {"broken"}
    assert sup.restarts("broken") == FAST.max_restarts
    assert sup.exit_codes("broken") == [1] * (FAST.max_restarts + 1)
    assert "giving up" in output_of(sup)


def test_backoff_doubles_and_is_capped():
    policy = RestartPolicy(initial_backoff=0.5, max_backoff=3.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_stop_forwards_the_signal(sup: Supervisor, tmp_path: Path):
    marker = tmp_path / "got"
    argv = script(
        tmp_path,
        "polite",
        f"""
        import signal, sys, time
        def bye(signum, frame):
            open({str(marker)!r}, "w").write(signal.Signals(signum).name)
            sys.exit(0)
        signal.signal(signal.SIGINT, bye)
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    await sup.start("polite", argv)
    await eventually(lambda: "ready" in output_of(sup))
    await sup.stop(signal.SIGINT)
    assert marker.read_text() == "SIGINT"
    assert sup.exit_codes("polite") == [0]
    assert sup.restarts("polite") == 0


def family(tmp_path: Path, ignore_term: bool) -> list[str]:
    """A child that starts a grandchild in its own process group and records both pids."""
    pids = tmp_path / "pids"
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN)" if ignore_term else ""
    grandchild = f"import signal, time; {ignore}; time.sleep(60)"
    return script(
        tmp_path,
        "family",
        f"""
        import os, signal, subprocess, sys, time
        {ignore}
        kid = subprocess.Popen([sys.executable, "-c", {grandchild!r}])
        with open({str(pids)!r}, "w") as fh:
            fh.write(f"{{os.getpid()}}\\n{{kid.pid}}\\n")
        time.sleep(60)
        """,
    )


async def test_stop_ends_the_child_and_its_children(sup: Supervisor, tmp_path: Path):
    await sup.start("family", family(tmp_path, ignore_term=False))
    await eventually(lambda: len(read_pids(tmp_path / "pids")) == 2)
    pids = read_pids(tmp_path / "pids")
    await sup.stop()
    assert sup.exit_codes("family") == [-signal.SIGTERM]
    # The grandchild closes its end of the pipe a moment before it is gone.
    await eventually(lambda: not any(process_alive(pid) for pid in pids), within=2.0)


async def test_stop_kills_a_group_that_ignores_the_signal(tmp_path: Path):
    sup = Supervisor(policy=FAST, grace=0.3, output=io.StringIO(), color=False)
    await sup.start("stubborn", family(tmp_path, ignore_term=True))
    await eventually(lambda: len(read_pids(tmp_path / "pids")) == 2)
    pids = read_pids(tmp_path / "pids")
    started = time.monotonic()
    await sup.stop()
    assert time.monotonic() - started >= 0.3
    await eventually(lambda: not any(process_alive(pid) for pid in pids), within=2.0)
    assert sup.exit_codes("stubborn") == [-signal.SIGKILL]
    assert "killing it" in output_of(sup)


async def test_crashed_child_leaves_no_grandchildren(sup: Supervisor, tmp_path: Path):
    pids = tmp_path / "pids"
    grandchild = "import time; time.sleep(60)"
    argv = script(
        tmp_path,
        "crasher",
        f"""
        import os, subprocess, sys
        kid = subprocess.Popen([sys.executable, "-c", {grandchild!r}])
        with open({str(pids)!r}, "a") as fh:
            fh.write(f"{{kid.pid}}\\n")
        os._exit(2)
        """,
    )
    await sup.start("crasher", argv, restart=False)
    await eventually(lambda: sup.exit_codes("crasher") == [2])
    orphan = read_pids(pids)[0]
    await eventually(lambda: not process_alive(orphan))


async def test_run_once_returns_the_exit_code_with_prefixed_output(sup: Supervisor, tmp_path: Path):
    argv = script(tmp_path, "migrate", "print('migrated'); raise SystemExit(4)")
    assert await sup.run_once("tickets", argv) == 4
    assert "tickets  | migrated" in output_of(sup).splitlines()


def test_child_dies_when_the_supervisor_is_killed(tmp_path: Path):
    parent = script(
        tmp_path,
        "parent",
        """
        import asyncio, sys
        from triage.devstack.supervisor import Supervisor

        async def main():
            sup = Supervisor(color=False)
            await sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
            print(sup.pid("sleeper"), flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
        """,
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(parent, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert process_alive(child)
    finally:
        proc.kill()
        proc.communicate()
    wait_until(lambda: not process_alive(child), 10.0, what="the orphaned child to die")
