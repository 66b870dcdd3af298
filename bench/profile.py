"""py-spy sampling of one service during a bench step, summarised by function."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 200
DURATION = 5
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy binary beside this interpreter, else on PATH (None: not installed)."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


async def record(
    name: str, pid: int | None, out_dir: Path, *, delay: float = 2.0, top: int = 15
) -> dict[str, Any]:
    """Sample ``pid`` for a few seconds after ``delay``; return the top costs."""
    binary = py_spy()
    if pid is None or binary is None:
        return {"service": name, "error": "py-spy or the process is not available"}
    await asyncio.sleep(delay)
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    raw = out_dir / f"profile-{name}.txt"
    proc = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "-r",
        str(RATE),
        "-d",
        str(DURATION),
        "-p",
        str(pid),
        "-f",
        "raw",
        "-o",
        str(raw),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), DURATION + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = await asyncio.to_thread(raw.read_text) if proc.returncode == 0 else ""
    if not text:
        return {"service": name, "error": err.decode(errors="replace")[-500:]}
    summary = summarize(text, top=top)
    summary.update({"service": name, "file": str(raw)})
    return summary


def _function(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("/services/", "/triage/", "/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def _boilerplate(func: str) -> bool:
    """Frames every sample goes through (the event loop, ``python -m``), not costs."""
    return "(asyncio/" in func or "runpy>" in func or func.endswith("__main__.py)")


def summarize(text: str, *, top: int = 15) -> dict[str, Any]:
    """Inclusive and self shares (% of samples) per function from py-spy's raw output.

    ``inclusive`` leaves out the event loop and module-runner frames that every sample
    goes through; ``idle_share`` is the samples waiting in the selector.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_function(f) for f in stack.split(";") if f]
        if not frames:
            continue
        for func in set(frames):
            if not _boilerplate(func):
                inclusive[func] += count
        own[frames[-1]] += count
    if not total:
        return {"samples": 0, "inclusive": [], "self": []}
    return {
        "samples": total,
        "busy_share": total / (RATE * DURATION),
        "idle_share": sum(n for f, n in own.items() if f.startswith("EpollSelector.select"))
        / total,
        "inclusive": [(f, 100.0 * n / total) for f, n in inclusive.most_common(top)],
        "self": [(f, 100.0 * n / total) for f, n in own.most_common(top)],
    }
