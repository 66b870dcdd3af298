"""`make run`'s banner prints the console's URL once the console is up."""

from __future__ import annotations

from services.console.settings import ConsoleSettings
from tests.unit.devstack.test_stack import make_stack
from triage.devstack.__main__ import DEFAULT_CONSOLE_PORT
from triage.mesh import SERVICE_NAMES


def test_banner_prints_the_console_url() -> None:
    stack = make_stack(SERVICE_NAMES, None)
    assert "console" not in stack.banner()
    stack.console_url = "http://127.0.0.1:8090"
    assert "  console     http://127.0.0.1:8090  (sign in with TRIAGE_TOKEN)" in stack.banner()


def test_make_run_and_the_console_agree_on_the_port() -> None:
    assert ConsoleSettings().console_port == DEFAULT_CONSOLE_PORT == 8090
