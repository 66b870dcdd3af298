"""Progress of a long CLI operation, on stderr, so stdout stays clean for pipes and --json.

Shown when stderr is a terminal (redrawn in place) or when ``--progress`` is given (one
line per step, rate-limited, for logs and CI). Use it as a context manager::

    with progress(ctx, "export", total=len(services), unit="services") as bar:
        for name in services:
            ...
            bar.advance(note=name)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TextIO


class _WantsProgress(Protocol):
    """Anything carrying the resolved ``--progress`` flag (a CliContext)."""

    @property
    def progress(self) -> bool: ...


class Progress:
    """A counter printed to ``stream``: ``label: done/total unit (pct%) note``."""

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "",
        enabled: bool = True,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        min_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.note = ""
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = _isatty(self.stream) if interactive is None else interactive
        self.min_interval = min_interval
        self._clock = clock
        self._last_shown: float | None = None
        self._drawn = False

    def __enter__(self) -> Progress:
        self._show(force=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close(ok=exc_type is None)

    def advance(self, step: int = 1, *, note: str = "") -> None:
        """Count ``step`` more units done (``note``: what was just done, shown beside)."""
        self.update(self.done + step, note=note)

    def update(self, done: int, *, total: int | None = None, note: str = "") -> None:
        """Set the count (and the total, when it becomes known) and maybe redraw."""
        self.done = done
        if total is not None:
            self.total = total
        self.note = note
        self._show(force=self.total is not None and self.done >= self.total)

    def close(self, *, ok: bool = True) -> None:
        """Finish the display: the last count on its own line (``ok=False``: interrupted)."""
        if not self.enabled:
            return
        if not ok:
            self.note = (self.note + " " if self.note else "") + "(stopped)"
        self._show(force=True)
        if self.interactive and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self.enabled = False

    def line(self) -> str:
        """The current text of the display."""
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            pct = min(100, self.done * 100 // self.total)
            text = f"{self.label}: {self.done}/{self.total}{unit} ({pct}%)"
        elif self.total == 0:
            text = f"{self.label}: {self.done}/0{unit}"
        else:
            text = f"{self.label}: {self.done}{unit}"
        return f"{text} {self.note}" if self.note else text

    def _show(self, *, force: bool) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if (
            not force
            and self._last_shown is not None
            and now - self._last_shown < self.min_interval
        ):
            return
        self._last_shown = now
        if self.interactive:
            # \r and clear-to-end-of-line redraw the same terminal line.
            self.stream.write("\r\x1b[K" + self.line())
            self._drawn = True
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def wanted(forced: bool, stream: TextIO | None = None) -> bool:
    """Whether to show progress: ``--progress`` given, or stderr is a terminal."""
    return forced or _isatty(stream if stream is not None else sys.stderr)


def progress(
    ctx: _WantsProgress, label: str, *, total: int | None = None, unit: str = ""
) -> Progress:
    """A :class:`Progress` on stderr, enabled when ``ctx.progress`` or stderr is a TTY."""
    return Progress(label, total=total, unit=unit, enabled=wanted(ctx.progress))
