"""Bad input to any command: exit 2 with a message naming what is wrong, never a traceback.

No service runs here: every address points at a closed port, so a command that gets past
its own checks ends with UNAVAILABLE (exit 3, the status printed), never an exception.
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from triage.cli.main import build_parser, main
from triage.mesh import SERVICE_NAMES

_GLOBAL = {"--json", "--token", "--timeout", "--progress", "--gateway-url", "-h", "--help"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = _closed_port()
NOWHERE = [
    "--token",
    "x",
    "--timeout",
    "2",
    "--gateway-url",
    f"http://127.0.0.1:{PORT}",
    *[arg for name in SERVICE_NAMES for arg in (f"--{name}-addr", f"127.0.0.1:{PORT}")],
]


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [(path, parser)]
    return [
        leaf
        for group in groups
        for name, child in group.choices.items()
        for leaf in _leaves(child, (*path, name))
    ]


def _junk_argv(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with junk for every positional and every option that takes a value."""
    argv = list(path)
    for action in parser._actions:
        flags = action.option_strings
        if flags and (set(flags) & _GLOBAL or flags[0].endswith("-addr")):
            continue
        if not flags:
            argv.append("%%junk%%")
        elif action.nargs != 0 and not action.choices:
            number = action.type in (int, float)
            argv += [flags[-1], "-5" if number else "%%junk%%"]
    return argv


COMMANDS = _leaves(build_parser())


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; argparse's own exits count as return codes."""
    try:
        code = main(argv)
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_junk_in_every_flag_is_an_error_message_not_a_traceback(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = dict(COMMANDS)[path]
    code, _, err = run(capsys, [*_junk_argv(path, parser), *NOWHERE])
    assert "Traceback" not in err
    if path == ("health",):
        assert code == 1  # the table says which services are unreachable
        return
    assert code in (2, 3), (code, err)
    assert err.startswith(("error: ", "usage: ")), err
    if code == 3:
        assert err.startswith("error: UNAVAILABLE")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tickets", "list", "--limit", "0"], "--limit must be at least 1"),
        (["tickets", "log-time", "T", "soon"], "bad duration 'soon'"),
        (["tickets", "create", "--description", "no title"], "needs a title"),
        (["tickets", "create", "--title", "x", "--priority", "p9"], "invalid choice: 'p9'"),
        (["tenants", "update", "T"], "nothing to update"),
        (["tenants", "update", "T", "--state", "gone"], "invalid choice: 'gone'"),
        (["rules", "create", "--persistence", "3"], "bad persistence '3'"),
        (["rules", "create", "--persistence", "0/5m"], "bad persistence '0/5m'"),
        (["rules", "create", "--during", "9-5"], "bad shift '9-5'"),
        (["rules", "simulate", "--start", "yesterday"], "bad time 'yesterday'"),
        (["rules", "simulate", "--start", "2025-01-02", "--end", "2025-01-01"], "--end must be"),
        (["rules", "simulate", "--start", "2025-01-01", "--chunk=-1h"], "--chunk must be"),
        (["alerts", "ingest", "--from-json", "/nonexistent.json"], "cannot read"),
        (["alerts", "ingest", "--from-json", "X", "--batch-size", "5000"], "--batch-size"),
        (["sla", "audit"], "the following arguments are required: ticket"),
        (["windows", "update"], "the following arguments are required: id"),
    ],
)
def test_bad_input_exits_2_saying_what_is_wrong(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, [*argv, *NOWHERE])
    assert code == 2
    assert says in err
    assert "Traceback" not in err


def test_bad_json_files_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"no_such_field": 1}))
    for argv in (
        ["tickets", "create", "--from-json", str(broken)],
        ["rules", "create", "--from-json", str(wrong)],
        ["rules", "simulate", "--start", "2025-01-01", "--rules-json", str(wrong)],
        ["alerts", "ingest", "--from-json", str(broken)],
    ):
        code, _, err = run(capsys, [*argv, *NOWHERE])
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and "Traceback" not in err


def test_no_token_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIAGE_TOKEN", raising=False)
    code, _, err = run(capsys, ["tenants", "list"])
    assert code == 2 and "TRIAGE_TOKEN" in err


def test_an_unreachable_service_exits_3_with_the_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, ["tickets", "show", "T", *NOWHERE])
    assert code == 3 and out == ""
    assert err.startswith("error: UNAVAILABLE")
