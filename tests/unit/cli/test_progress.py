"""The shared progress display: stderr only, on a terminal or with --progress, rate-limited."""

from __future__ import annotations

import io

from triage.cli.common import context_from
from triage.cli.main import build_parser
from triage.cli.progress import Progress, progress


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_when_forced_on_a_pipe() -> None:
    out = io.StringIO()
    with Progress("export", total=4, unit="services", stream=out, min_interval=0) as bar:
        bar.advance(note="ingest")
        bar.advance(note="rules")
    assert out.getvalue().splitlines() == [
        "export: 0/4 services (0%)",
        "export: 1/4 services (25%) ingest",
        "export: 2/4 services (50%) rules",
        "export: 2/4 services (50%) rules",
    ]


def test_steps_closer_than_the_interval_are_not_shown_but_the_last_is() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress("simulate", stream=out, min_interval=1.0, clock=clock) as bar:
        for _ in range(5):
            bar.advance(100)
        clock.now = 2.0
        bar.advance(100)
        bar.advance(100)
    assert out.getvalue().splitlines() == [
        "simulate: 0",
        "simulate: 600",
        "simulate: 700",
    ]


def test_reaching_the_total_is_always_shown() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Progress("x", total=2, stream=out, min_interval=10.0, clock=clock)
    bar.update(0)
    bar.update(2)
    assert out.getvalue().splitlines() == ["x: 0/2 (0%)", "x: 2/2 (100%)"]


def test_a_terminal_redraws_one_line_and_ends_it() -> None:
    out = io.StringIO()
    with Progress("delete", total=2, stream=out, interactive=True, min_interval=0) as bar:
        bar.advance()
    text = out.getvalue()
    assert text.startswith("\r\x1b[Kdelete: 0/2 (0%)")
    assert "\r\x1b[Kdelete: 1/2 (50%)" in text
    assert text.endswith("\n") and text.count("\n") == 1


def test_an_error_inside_marks_the_display_stopped() -> None:
    out = io.StringIO()
    try:
        with Progress("delete", total=3, stream=out, min_interval=0) as bar:
            bar.advance()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert out.getvalue().splitlines()[-1] == "delete: 1/3 (33%) (stopped)"


def test_disabled_prints_nothing() -> None:
    out = io.StringIO()
    with Progress("x", total=3, stream=out, enabled=False) as bar:
        bar.advance()
    assert out.getvalue() == ""


def test_the_flag_enables_it_off_a_terminal() -> None:
    """Under pytest stderr is not a terminal: only --progress turns it on."""
    parser = build_parser()
    quiet = context_from(parser.parse_args(["health"]))
    loud = context_from(parser.parse_args(["health", "--progress"]))
    assert progress(quiet, "x").enabled is False
    assert progress(loud, "x").enabled is True
