"""Child processes of the platform (api, worker, simulator) with their logs and health checks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx


class StartupError(RuntimeError):
    """A child died or never became healthy; the message carries the tail of its log."""


class ChildProcess:
    """One supervised command in its own process group, its output appended to `log_path`.

    The process group lets stop() and kill() reach grandchildren too (uvicorn's worker
    processes), and keeps a terminal's Ctrl-C away from children so the launcher alone
    decides the shutdown order.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        health_url: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env or {})
        self.health_url = health_url
        self.started_at = 0.0
        self._log_offset = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.is_running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"\n=== {stamp} starting {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(  # noqa: S603 - argv comes from the launcher, not input
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    def poll(self) -> int | None:
        """The exit code once the process has exited, None while it runs or was never started."""
        return self._proc.poll() if self._proc else None

    def terminate(self) -> None:
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        if self._proc:
            self._proc.wait()

    def wait(self, timeout: float) -> bool:
        """True once the process has exited, False if it still runs after `timeout` seconds."""
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        stop_all([self], timeout)

    def tail(self, lines: int = 40) -> str:
        """The last lines this run wrote (the log also holds earlier runs)."""
        return log_tail(self.log_path, lines, self._log_offset)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        # ProcessLookupError: the whole group has already exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)


def stop_all(children: Sequence[ChildProcess], timeout: float = 10.0) -> None:
    """SIGTERM every child at once, then SIGKILL whatever still runs after `timeout` seconds."""
    for child in children:
        child.terminate()
    deadline = time.monotonic() + timeout
    for child in children:
        child.wait(max(0.0, deadline - time.monotonic()))
        # Also after a clean exit: a leader may exit before its own children, who must not
        # outlive the stop.
        child.kill()


def wait_until_healthy(children: Sequence[ChildProcess], timeout: float = 30.0) -> None:
    """Poll each child's health_url until it answers 200; StartupError if one dies or times out."""
    pending = [child for child in children if child.health_url]
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for child in list(pending):
                code = child.poll()
                if code is not None:
                    raise StartupError(_failure(child, f"exited with code {code} while starting"))
                assert child.health_url is not None
                try:
                    if client.get(child.health_url).status_code == 200:
                        pending.remove(child)
                except httpx.HTTPError:
                    pass  # not listening yet
            if pending and time.monotonic() > deadline:
                raise StartupError(
                    "\n\n".join(
                        _failure(child, f"not healthy at {child.health_url} after {timeout:g} s")
                        for child in pending
                    )
                )
            if pending:
                time.sleep(0.1)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (another process may still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 40, offset: int = 0) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log yet)"
    return "\n".join(text.splitlines()[-lines:])


def _failure(child: ChildProcess, what: str) -> str:
    return f"{child.name} {what}; last lines of {child.log_path}:\n{child.tail()}"
