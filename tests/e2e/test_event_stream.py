"""A payment's events reach JetStream through the worker's relay, exactly as the API shows them,
and `payplane events tail` prints them."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import orjson
from tests.e2e.support import api, query

from payplane.adapters.broker.nats import STREAM, connect, subject_for


def _wait_published(platform: Any, intent_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        rows = query(
            platform,
            "SELECT id, type, object_id, published_at FROM events WHERE payment_intent_id = %s "
            "ORDER BY seq",
            intent_id,
        )
        if rows and all(row["published_at"] for row in rows):
            return rows
        assert time.monotonic() < deadline, f"events of {intent_id} not published: {rows}"
        time.sleep(0.1)


async def _last_message(nats_url: str, subject: str) -> tuple[dict[str, Any], dict[str, Any]]:
    nc, js = await connect(nats_url)
    try:
        msg = await js.get_last_msg(STREAM, subject)
    finally:
        await nc.close()
    assert msg.data is not None
    assert msg.headers is not None
    return orjson.loads(msg.data), msg.headers


def _tail_until(platform: Any, merchant_id: str, wanted: set[str]) -> tuple[list[str], int]:
    """Run `payplane events tail` until it has printed every wanted event id, then Ctrl-C it."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "payplane.cli", "events", "tail",
            "--durable", f"e2e_{uuid.uuid4().hex}",
            "--subject", subject_for(merchant_id, ">"),
            "--from-start",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PAYPLANE_NATS_URL": platform.nats_url},
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()])
    reader.start()
    printed: list[str] = []
    deadline = time.monotonic() + 20
    try:
        while not wanted <= {word for line in printed for word in line.split()}:
            assert time.monotonic() < deadline, f"tail printed only {printed}"
            try:
                printed.append(lines.get(timeout=0.5).rstrip("\n"))
            except queue.Empty:
                continue
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
    finally:
        process.kill()
        reader.join(timeout=10)
    return printed, code


def test_payment_events_reach_the_stream_and_events_tail(platform: Any) -> None:
    merchant_id, secret = platform.new_merchant("relay e2e")
    with api(platform, secret) as client:
        response = client.post(
            "/v1/payment_intents",
            data={
                "amount": 2000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        )
        assert response.status_code == 200, response.text
        intent = response.json()
        events = _wait_published(platform, intent["id"])
        last = client.get(f"/v1/events/{events[-1]['id']}").json()

    body, headers = asyncio.run(
        _last_message(platform.nats_url, subject_for(merchant_id, last["type"]))
    )
    assert body == last
    assert headers["Nats-Msg-Id"] == last["id"]

    printed, code = _tail_until(platform, merchant_id, {event["id"] for event in events})
    assert code == 0
    shown = {line.split()[1]: line.split()[2:] for line in printed}
    assert {event["id"]: [event["type"], event["object_id"]] for event in events} == shown
