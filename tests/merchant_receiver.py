"""A merchant's webhook receiver for tests: an HTTP server in a thread that records every request.

Paths choose the behaviour: `behave(path, status=..., delay=...)`; unknown paths answer 200.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request arrived

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(self.body)
        return event


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Condition()
        self._requests: list[Received] = []
        self._behaviour: dict[str, tuple[int, float]] = {}

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def behave(self, path: str, *, status: int = 200, delay: float = 0.0) -> str:
        with self._lock:
            self._behaviour[path] = (status, delay)
        return self.url(path)

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def wait_for(
        self, condition: Callable[[list[Received]], bool], timeout: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not condition(self._requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"receiver: condition not met after {timeout} s")
                self._lock.wait(left)
            return list(self._requests)

    def _record(self, received: Received) -> tuple[int, float]:
        with self._lock:
            self._requests.append(received)
            self._lock.notify_all()
            return self._behaviour.get(received.path, (200, 0.0))


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a dispatcher reuses its connections
        disable_nagle_algorithm = True  # else headers and body, written apart, wait 40 ms

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True  # the sender died mid-request: nothing arrived
                return
            assert receiver is not None
            status, delay = receiver._record(
                Received(self.path, dict(self.headers.items()), body, time.monotonic())
            )
            if delay:
                time.sleep(delay)
            answer = b'{"received": true}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the sender gave up (timeout) and closed the connection

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # bursts of connections from several dispatchers

    server = Server(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
