"""Run the console under uvicorn (uvloop + httptools, as the webhook gateway does)."""

from __future__ import annotations

import logging

import uvicorn

from services.console.app import build_app
from services.console.settings import ConsoleSettings


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; ``argv`` is accepted for symmetry and ignored."""
    settings = ConsoleSettings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s console %(message)s")
    uvicorn.run(
        build_app(settings),
        host=settings.console_host,
        port=settings.console_port,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips="*",
        access_log=False,
        log_level="warning",
    )
    return 0
