"""Small process and port helpers shared by the dev stack."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import psutil

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return ``count`` distinct TCP ports that were free a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = LOOPBACK) -> int:
    """Return one TCP port that was free a moment ago."""
    return free_ports(1, host)[0]


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Tell whether something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def process_alive(pid: int) -> bool:
    """Tell whether ``pid`` runs; a zombie waiting to be reaped counts as gone."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def wait_until(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.01, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it holds; raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def kill_pid(pid: int, grace: float) -> None:
    """Terminate ``pid``, wait up to ``grace`` seconds, then kill it."""
    try:
        proc = psutil.Process(pid)
        proc.terminate()
    except psutil.NoSuchProcess:
        return
    try:
        wait_until(lambda: not process_alive(pid), grace, what=f"pid {pid} to exit")
    except TimeoutError:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            return
        wait_until(lambda: not process_alive(pid), 5.0, what=f"pid {pid} to die")


def read_pid_file(path: os.PathLike[str] | str) -> int | None:
    """Read the pid on the first line of a pid file, or None if absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            return int(fh.readline().strip())
    except (OSError, ValueError):
        return None
