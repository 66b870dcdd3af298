"""An earlier commit of this repository, checked out into a temporary ``git worktree``.

The services of a worktree run from the same virtualenv: started as ``python -m
services.<name>`` with the worktree as their working directory, its ``triage`` and
``services`` packages come first on ``sys.path`` and shadow the editable install.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


class BaselineUnavailable(RuntimeError):
    """git, the repository or the ref is missing (a tarball checkout, a shallow clone)."""


@dataclass(frozen=True)
class Checkout:
    """Code to run: a directory, the commit it holds, and how it was asked for."""

    path: Path
    ref: str
    commit: str
    dirty: bool = False


def _git(*args: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BaselineUnavailable(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout}")
    return done.stdout.strip()


def resolve(ref: str) -> str:
    """The full commit id of ``ref``; :class:`BaselineUnavailable` if it cannot be had."""
    if shutil.which("git") is None:
        raise BaselineUnavailable("git is not installed")
    if not (REPO_ROOT / ".git").exists():
        raise BaselineUnavailable(f"{REPO_ROOT} is not a git checkout (a tarball?)")
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except BaselineUnavailable:
        raise BaselineUnavailable(
            f"{ref!r} is not a commit of {REPO_ROOT} (a shallow clone, or another history?)"
        ) from None


def working_tree() -> Checkout:
    """This checkout as it is, uncommitted changes included."""
    try:
        commit = resolve("HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except BaselineUnavailable:
        commit, dirty = "unknown", True
    return Checkout(REPO_ROOT, "working tree", commit, dirty)


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Checkout]:
    """``ref`` checked out (detached) in a temporary worktree, removed on exit."""
    commit = resolve(ref)
    with tempfile.TemporaryDirectory(prefix="triage-baseline-") as parent:
        path = Path(parent) / commit[:12]
        _git("worktree", "add", "--detach", "--quiet", str(path), commit)
        try:
            yield Checkout(path, ref, commit)
        finally:
            with contextlib.suppress(BaselineUnavailable):
                _git("worktree", "remove", "--force", str(path))
