"""Run named child processes: prefixed output, restart on crash, ordered stop with no orphans."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TextIO

from triage.runtime.waiting import wait_event

_COLORS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
_RESET = "\033[0m"
_OWN_NAME = "devstack"
_READ_LIMIT = 1 << 20
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RestartPolicy:
    """How a child that exits on its own is restarted."""

    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    max_restarts: int = 5
    """Consecutive restarts after short runs before giving up on the child."""
    stable_after: float = 30.0
    """A run at least this long resets the count of consecutive restarts."""

    def backoff(self, failures: int) -> float:
        """Delay before the restart that follows ``failures`` consecutive short runs."""
        return float(min(self.max_backoff, self.initial_backoff * 2 ** max(0, failures - 1)))


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Stream protocol that also reports the moment the process exits."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


@dataclass
class _Run:
    """One process of a child; ``exited`` resolves when it exits."""

    proc: asyncio.subprocess.Process
    exited: asyncio.Future[None]

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait(self) -> int:
        # Process.wait() on 3.11 also waits for the pipe to close, which a grandchild can hold
        # open forever; the protocol tells when the process itself exits.
        await asyncio.shield(self.exited)
        returncode = self.proc.returncode
        assert returncode is not None
        return returncode


@dataclass
class _Child:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str] | None
    cwd: Path | None
    restart: bool
    run: _Run | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)


def _die_with_parent() -> None:
    """Runs in the child before exec: get SIGTERM if the supervisor dies without stopping us."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _finish(pump: asyncio.Task[None]) -> None:
    """Let the output pump drain; a process that left our group may hold the pipe forever."""
    await asyncio.wait({pump}, timeout=2.0)
    if not pump.done():
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


class Supervisor:
    """Starts children in their own process groups and keeps them running until stopped."""

    def __init__(
        self,
        *,
        policy: RestartPolicy | None = None,
        grace: float = 10.0,
        output: TextIO | None = None,
        color: bool | None = None,
        name_width: int = 8,
    ) -> None:
        """Configure restarts, the stop grace period and where prefixed output goes."""
        self.policy = policy or RestartPolicy()
        self.grace = grace
        self.output = output if output is not None else sys.stdout
        if color is None:
            color = self.output.isatty() and "NO_COLOR" not in os.environ
        self.color = color
        self.name_width = name_width
        self.gave_up: set[str] = set()
        self.gave_up_event = asyncio.Event()
        self._children: dict[str, _Child] = {}
        self._colors: dict[str, str] = {}
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._stop_signal: int = signal.SIGTERM

    def emit(self, name: str, line: str) -> None:
        """Write one line of output prefixed with a colored, fixed-width ``name``."""
        label = f"{name:<{self.name_width}}"
        if self.color:
            code = "1" if name == _OWN_NAME else self._color(name)
            label = f"\033[{code}m{label}{_RESET}"
        self.output.write(f"{label} | {line.rstrip()}\n")
        self.output.flush()

    def say(self, line: str) -> None:
        """Write a line of the supervisor's own output."""
        self.emit(_OWN_NAME, line)

    def pid(self, name: str) -> int | None:
        """Pid of the current process of child ``name`` while it runs."""
        run = self._children[name].run
        if run is None or run.exited.done():
            return None
        return run.pid

    def restarts(self, name: str) -> int:
        """How many times child ``name`` has been restarted."""
        return self._children[name].restarts

    def exit_codes(self, name: str) -> list[int]:
        """Exit codes of child ``name``'s processes so far, oldest first."""
        return list(self._children[name].exit_codes)

    @property
    def names(self) -> list[str]:
        """Names of the children, in start order."""
        return list(self._children)

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        restart: bool = True,
    ) -> None:
        """Start child ``name`` and supervise it; returns once its first process is spawned."""
        if self._stopping:
            raise RuntimeError("the supervisor is stopping")
        if name in self._children:
            raise ValueError(f"a child named {name!r} already exists")
        child = _Child(name, tuple(argv), dict(env) if env is not None else None, cwd, restart)
        self._children[name] = child
        await self._spawn(child)
        child.task = asyncio.create_task(self._supervise(child), name=f"supervise-{name}")

    async def run_once(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Run a one-shot command with prefixed output and return its exit code."""
        run = await self._exec(argv, env, cwd)
        pump = asyncio.create_task(self._pump(name, run.proc))
        try:
            returncode = await run.wait()
        except BaseException:
            await self._terminate_group(run, signal.SIGTERM, self.grace)
            raise
        finally:
            _signal_group(run.pid, signal.SIGKILL)
            await _finish(pump)
        return returncode

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` to every child's group, wait up to the grace period, then kill them."""
        self._stopping = True
        self._stop_signal = sig
        self._stop_event.set()
        tasks = [c.task for c in self._children.values() if c.task is not None]
        for child in self._children.values():
            if child.run is not None and not child.run.exited.done():
                _signal_group(child.run.pid, sig)
        if tasks:
            await asyncio.wait(tasks)

    def kill(self) -> None:
        """Kill every child's group at once (a second Ctrl-C)."""
        self._stopping = True
        self._stop_event.set()
        for child in self._children.values():
            if child.run is not None:
                _signal_group(child.run.pid, signal.SIGKILL)

    async def __aenter__(self) -> Supervisor:
        """Use as ``async with Supervisor() as sup``; children are stopped on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop every child."""
        await self.stop()

    def _color(self, name: str) -> str:
        if name not in self._colors:
            self._colors[name] = _COLORS[len(self._colors) % len(_COLORS)]
        return self._colors[name]

    async def _exec(
        self, argv: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None
    ) -> _Run:
        loop = asyncio.get_running_loop()
        protocol = _Protocol(_READ_LIMIT, loop)
        # Own process group: Ctrl-C reaches only us, and stop() can signal a child together
        # with anything it spawned.
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        return _Run(asyncio.subprocess.Process(transport, protocol, loop), protocol.exited)

    async def _spawn(self, child: _Child) -> None:
        child.run = await self._exec(child.argv, child.env, child.cwd)
        if self._stopping:
            _signal_group(child.run.pid, self._stop_signal)

    async def _pump(self, name: str, proc: asyncio.subprocess.Process) -> None:
        stream = proc.stdout
        if stream is None:
            return
        while True:
            try:
                raw = await stream.readline()
            except ValueError:
                raw = await stream.read(_READ_LIMIT)
            if not raw:
                return
            self.emit(name, raw.decode("utf-8", errors="replace"))

    async def _terminate_group(self, run: _Run, sig: int, grace: float) -> None:
        _signal_group(run.pid, sig)
        try:
            await asyncio.wait_for(run.wait(), grace)
        except TimeoutError:
            _signal_group(run.pid, signal.SIGKILL)
            await run.wait()

    async def _supervise(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            run = child.run
            assert run is not None
            started = loop.time()
            pump = asyncio.create_task(self._pump(child.name, run.proc))
            returncode = await self._wait_child(run)
            child.exit_codes.append(returncode)
            if self._stopping:
                # Anything the child spawned got the signal too; its end of the pipe closing
                # tells us it is done.
                await asyncio.wait({pump}, timeout=self.grace)
            # The group may outlive its leader; nothing of a stopped or crashed child stays.
            _signal_group(run.pid, signal.SIGKILL)
            await _finish(pump)
            if self._stopping:
                return
            if not child.restart:
                self.say(f"{child.name} exited with code {returncode}")
                return
            failures = 1 if loop.time() - started >= self.policy.stable_after else failures + 1
            if failures > self.policy.max_restarts:
                self.say(
                    f"{child.name} exited with code {returncode}; giving up after "
                    f"{self.policy.max_restarts} restarts"
                )
                self.gave_up.add(child.name)
                self.gave_up_event.set()
                return
            delay = self.policy.backoff(failures)
            self.say(f"{child.name} exited with code {returncode}; restarting in {delay:.1f}s")
            if await self._stop_requested_within(delay):
                return
            child.restarts += 1
            await self._spawn(child)

    async def _wait_child(self, run: _Run) -> int:
        """Wait for the child; once a stop begins, bound the wait by the grace period."""
        waiter = asyncio.ensure_future(run.wait())
        stop = asyncio.ensure_future(self._stop_event.wait())
        await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not waiter.done():
            done, _ = await asyncio.wait({waiter}, timeout=self.grace)
            if not done:
                self.say(f"pid {run.pid} still running after {self.grace:g}s; killing it")
                _signal_group(run.pid, signal.SIGKILL)
        return await waiter

    async def _stop_requested_within(self, delay: float) -> bool:
        await wait_event(self._stop_event, delay)
        return self._stopping
