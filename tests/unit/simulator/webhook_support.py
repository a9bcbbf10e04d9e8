"""Webhook test helpers: a tiny receiver on a real port, served by a thread, and checks."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from fastapi import FastAPI
from simulator_support import API_KEY
from standardwebhooks import Webhook

from psp_simulator.webhooks import DEFAULT_WEBHOOK_SECRET


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records every request, answering `status` (set it to 503 to play a receiver that is down)."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    async def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        """The first `count` requests, waiting for them without blocking the simulator's loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.received()) < count:
            assert loop.time() < deadline, f"got {len(self.received())} of {count} webhooks"
            await asyncio.sleep(0.02)
        return self.received()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


async def flush(client: httpx.AsyncClient, wait: float = 5) -> dict[str, Any]:
    response = await client.post(f"/admin/webhooks/flush?timeout={wait}")
    assert response.status_code == 200
    stats: dict[str, Any] = response.json()
    return stats


async def set_webhook_faults(client: httpx.AsyncClient, **config: object) -> None:
    response = await client.post("/admin/webhook_faults", json=config)
    assert response.status_code == 200, response.text


def verified(received: Received, secret: str = DEFAULT_WEBHOOK_SECRET) -> Any:
    event = Webhook(secret).verify(received.body, received.headers)
    assert received.headers["webhook-id"] == event["id"]
    assert received.headers["content-type"] == "application/json"
    return event


def summary(received: list[Received]) -> Counter[tuple[str, str | None, str | None]]:
    events = [verified(request) for request in received]
    assert len({event["id"] for event in events}) == len(events)
    return Counter(
        (event["type"], event["data"].get("idempotency_key"), event["data"].get("operation"))
        for event in events
    )


def simulator_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://psp.test",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
