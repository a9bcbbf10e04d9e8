"""HTTP clients for the load generator: one keep-alive connection per virtual user.

`RawClient` is a minimal HTTP/1.1 client over asyncio streams: it writes a prebuilt request and
reads one Content-Length (or chunked) response, nothing else, so the generator costs a fraction
of what the platform does per request. `HttpxClient` does the same through httpx.AsyncClient, to
measure what a general-purpose client would cost (`--client httpx`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import httpx


class HttpError(Exception):
    """The exchange failed below HTTP (connect, reset, malformed response)."""


class Client(Protocol):
    async def post(self, path: str, body: bytes, idempotency_key: str) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class RawClient:
    """POSTs form bodies with a Bearer key over one persistent HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, secret_key: str) -> None:
        self._host = host
        self._port = port
        self._static_headers = (
            f"Host: {host}:{port}\r\n"
            f"Authorization: Bearer {secret_key}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Accept: */*\r\n"
        ).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, idempotency_key: str) -> tuple[int, bytes]:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None
        assert self._writer is not None
        request = b"".join(
            (
                b"POST ",
                path.encode(),
                b" HTTP/1.1\r\n",
                self._static_headers,
                b"Idempotency-Key: ",
                idempotency_key.encode(),
                b"\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\n\r\n",
                body,
            )
        )
        try:
            self._writer.write(request)
            status, body, keep_alive = await _read_response(self._reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.aclose()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        if not keep_alive:
            await self.aclose()
        return status, body

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            raise HttpError(f"connect: {exc}") from exc

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status_line = lines[0]
    if not status_line.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x response: {status_line[:60]!r}")
    status = int(status_line[9:12])
    keep_alive = status_line.startswith(b"HTTP/1.1")
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = value.strip().lower() != b"close"
    if chunked:
        return status, await _read_chunked(reader), keep_alive
    if length is None:
        return status, await reader.read(), False  # delimited by the end of the connection
    return status, await reader.readexactly(length), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent by the platform
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class HttpxClient:
    """The same exchange through httpx.AsyncClient (one pooled connection per virtual user)."""

    def __init__(self, base_url: str, secret_key: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {secret_key}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=30.0,
        )

    async def post(self, path: str, body: bytes, idempotency_key: str) -> tuple[int, bytes]:
        try:
            response = await self._client.post(
                path, content=body, headers={"Idempotency-Key": idempotency_key}
            )
        except httpx.HTTPError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self._client.aclose()
