"""The merchant's webhook endpoint for the event benchmark: a minimal HTTP/1.1 server.

It runs on its own uvloop in its own thread, answers every POST with 200 at once (Nagle off),
and records the wall-clock time (time.time) at which each event's request had fully arrived,
keyed by the event id in the body. It verifies the Stripe-Signature of every request, as a
merchant would, and counts duplicates (delivery is at least once). Its thread's CPU time is read
apart from the rest of the benchmark process, so the receiver's cost and the event inserter's
cost can be told apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import socket
import threading
import time
from typing import cast

import orjson
import psutil
import uvloop

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n"
    b'{"received": true}'
)
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # event id -> time.time() of its first arrival
        self.requests = 0
        self.body_bytes = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.malformed = 0
        self.secret: bytes | None = None  # the endpoint's whsec_ secret, once it exists
        self.port = 0
        self._native_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="bench-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the benchmark's receiver did not start")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def cpu_seconds(self) -> float:
        """User + system time of the receiver's thread so far."""
        for thread in psutil.Process().threads():
            if thread.id == self._native_id:
                return float(thread.user_time + thread.system_time)
        return 0.0

    def received_among(self, ids: list[str]) -> int:
        arrivals = self.arrivals
        return sum(1 for event_id in ids if event_id in arrivals)

    def record(self, head: bytes, body: bytes, at: float) -> None:
        self.requests += 1
        self.body_bytes += len(body)
        try:
            event_id = orjson.loads(body)["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.malformed += 1
            return
        if not self._signed(head, body):
            self.bad_signatures += 1
        if event_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[event_id] = at

    def _signed(self, head: bytes, body: bytes) -> bool:
        if self.secret is None:
            return False
        value = _header(head, b"stripe-signature")
        if value is None:
            return False
        parts = dict(p.split(b"=", 1) for p in value.split(b",") if b"=" in p)
        timestamp, signature = parts.get(b"t"), parts.get(b"v1")
        if timestamp is None or signature is None:
            return False
        expected = hmac.new(self.secret, timestamp + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature)

    def _serve(self) -> None:
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._native_id = threading.get_native_id()
        server = loop.run_until_complete(
            loop.create_server(lambda: _Http(self), "127.0.0.1", 0, backlog=1024)
        )
        self.port = cast(asyncio.Server, server).sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.close()


def _header(head: bytes, name: bytes) -> bytes | None:
    lowered = head.lower()
    start = lowered.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = lowered.find(b"\r\n", start)
    return lowered[start : end if end >= 0 else len(lowered)].strip()


class _Http(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            length = _header(head, b"content-length")
            if length is None or not length.isdigit():
                self._receiver.malformed += 1
                assert self._transport is not None
                self._transport.write(_BAD_REQUEST)
                self._transport.close()
                return
            total = end + 4 + int(length)
            if len(buffer) < total:
                return
            at = time.time()
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            self._receiver.record(head, body, at)
            assert self._transport is not None
            self._transport.write(_RESPONSE)
