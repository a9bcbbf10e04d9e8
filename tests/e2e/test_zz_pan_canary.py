"""The PAN canary. Canary card numbers go through every core entry point that takes free text and
must each be refused precisely; then the whole platform is searched for them: a dump of the e2e
database, every log file, every event on NATS. A single digit-for-digit occurrence fails.

Named to run last among the e2e tests, so the search also covers what the rest of the suite
made the platform write.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from tests.e2e.support import api, query, row_counts, stripe_client

from payplane.adapters.broker.nats import STREAM, SUBJECTS, connect
from payplane.runtime.postgres import bin_path

# Luhn-valid: Visa, Mastercard, and a 19-digit UnionPay number.
CANARIES = ("4111111111111111", "5500005555555559", "6212345678901234569")


def writings(digits: str) -> list[str]:
    """The canary as sent: plain, in groups of four with spaces, and with dashes."""
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return [digits, " ".join(groups), "-".join(groups)]


SENT = [written for digits in CANARIES for written in writings(digits)]


@dataclass(frozen=True)
class Entry:
    """One way free text reaches the core: request(client, ids, pan) -> response, and the
    param the refusal must name."""

    name: str
    send: Callable[[httpx.Client, dict[str, str], str], httpx.Response]
    param: Callable[[str], str]


def _create(client: httpx.Client, **extra: Any) -> httpx.Response:
    return client.post("/v1/payment_intents", data={"amount": "1000", "currency": "usd", **extra})


def _masked_key(prefix: str) -> Callable[[str], str]:
    return lambda pan: f"{prefix}[****{re.sub('[ -]', '', pan)[-4:]}]"


ENTRIES = [
    Entry(
        "intent metadata value",
        lambda c, _, p: _create(c, **{"metadata[note]": f"card {p}"}),
        lambda _: "metadata[note]",
    ),
    Entry(
        "intent metadata key",
        lambda c, _, p: _create(c, **{f"metadata[{p}]": "x"}),
        _masked_key("metadata"),
    ),
    Entry(
        "intent description",
        lambda c, _, p: _create(c, description=f"paid with {p}"),
        lambda _: "description",
    ),
    Entry(
        "intent statement descriptor",
        lambda c, _, p: _create(c, statement_descriptor=p),
        lambda _: "statement_descriptor",
    ),
    Entry(
        "intent JSON body, nested",
        lambda c, _, p: c.post(
            "/v1/payment_intents",
            json={"amount": 1000, "currency": "usd", "metadata": {"order": {"note": p}}},
        ),
        lambda _: "metadata[order][note]",
    ),
    Entry(
        "idempotency key",
        lambda c, _, p: c.post(
            "/v1/payment_intents",
            data={"amount": "1000", "currency": "usd"},
            headers={"Idempotency-Key": f"order-{p}"},
        ),
        lambda _: "Idempotency-Key",
    ),
    Entry(
        "intent list query",
        lambda c, _, p: c.get("/v1/payment_intents", params={"customer": p}),
        lambda _: "customer",
    ),
    Entry(
        "intent id in the path",
        lambda c, _, p: c.get(f"/v1/payment_intents/{p}"),
        lambda _: "intent_id",
    ),
    Entry(
        "intent update metadata",
        lambda c, ids, p: c.post(f"/v1/payment_intents/{ids['open']}", data={"metadata[n]": p}),
        lambda _: "metadata[n]",
    ),
    Entry(
        "query string of a POST",
        lambda c, ids, p: c.post(f"/v1/payment_intents/{ids['open']}/cancel", params={"why": p}),
        lambda _: "why",
    ),
    Entry(
        "refund metadata",
        lambda c, ids, p: c.post(
            "/v1/refunds",
            data={"payment_intent": ids["paid"], "amount": "100", "metadata[note]": p},
        ),
        lambda _: "metadata[note]",
    ),
    Entry(
        "refund update metadata",
        lambda c, ids, p: c.post(f"/v1/refunds/{ids['refund']}", data={"metadata[note]": p}),
        lambda _: "metadata[note]",
    ),
    Entry(
        "dispute evidence",
        lambda c, ids, p: c.post(
            f"/v1/disputes/{ids['dispute']}",
            data={"evidence[uncategorized_text]": f"customer card {p}"},
        ),
        lambda _: "evidence[uncategorized_text]",
    ),
    Entry(
        "webhook endpoint URL",
        lambda c, _, p: c.post(
            "/v1/webhook_endpoints",
            data={"url": f"https://example.com/hooks/{p}", "enabled_events[]": "*"},
        ),
        lambda _: "url",
    ),
    Entry(
        "webhook endpoint description",
        lambda c, _, p: c.post(
            "/v1/webhook_endpoints",
            data={
                "url": "https://example.com/hooks",
                "enabled_events[]": "*",
                "description": p,
            },
        ),
        lambda _: "description",
    ),
    Entry(
        "events list query",
        lambda c, _, p: c.get("/v1/events", params={"type": p}),
        lambda _: "type",
    ),
]


def _digits_in(text: str) -> list[str]:
    # Separators as sent, and as URL encoding writes them (a logged query string).
    flat = re.sub(r"(?i)[ +-]|%20|%2d", "", text)
    return [digits for digits in CANARIES if digits in text or digits in flat]


def _stored(platform, merchant_id: str) -> dict[str, int]:
    """What a merchant has written (row counts); a stored canary also shows in the dump."""
    extra = {
        table: query(
            platform,
            f"SELECT count(*) AS n FROM {table} WHERE merchant_id = %s",  # noqa: S608
            merchant_id,
        )[0]["n"]
        for table in ("refunds", "disputes", "webhook_endpoints")
    }
    return {**row_counts(platform, merchant_id), **extra}


def _refusal_problems(response: httpx.Response, param: str) -> list[str]:
    problems = []
    if response.status_code != 400:
        problems.append(f"status {response.status_code}")
    error = response.json().get("error", {}) if response.content else {}
    expected = {"type": "invalid_request_error", "code": "card_number_in_field", "param": param}
    got = {key: error.get(key) for key in expected}
    if got != expected:
        problems.append(f"error {got}")
    if _digits_in(response.text):
        problems.append("the response repeats the number")
    return problems


@pytest.fixture(scope="module")
def canary_merchant(platform) -> dict[str, str]:
    merchant_id, secret = platform.new_merchant("PAN canary")
    client = stripe_client(platform, secret)
    paid = client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    opened = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    refund = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 100})
    return {
        "merchant": merchant_id,
        "secret": secret,
        "paid": paid.id,
        "open": opened.id,
        "refund": refund.id,
        "dispute": _dispute_for(platform, client, paid.id),
    }


def _dispute_for(platform, client: stripe.StripeClient, intent_id: str) -> str:
    (authorization,) = query(
        platform,
        "SELECT psp_reference FROM payment_attempts "
        "WHERE payment_intent_id = %s AND kind = 'authorize' AND status = 'succeeded'",
        intent_id,
    )
    httpx.post(
        f"{platform.simulator_url}/admin/disputes",
        json={"authorization": authorization["psp_reference"]},
        timeout=10,
    ).raise_for_status()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = client.v1.disputes.list(params={"payment_intent": intent_id}).data
        if found:
            return found[0].id
        time.sleep(0.25)
    pytest.fail(f"the dispute on {intent_id} was never synced")


def _wait_until_published(platform) -> None:
    """Whatever was stored has reached NATS before the stream is searched."""
    deadline = time.monotonic() + 20
    while query(platform, "SELECT 1 FROM events WHERE published_at IS NULL LIMIT 1"):
        assert time.monotonic() < deadline, "the outbox was not drained"
        time.sleep(0.2)


def _database_dump(platform) -> str:
    """The core's schema; the vault's own schema (ciphertext only) is closed to the core's role."""
    result = subprocess.run(
        [str(bin_path("pg_dump")), "--schema=public", "--dbname", platform.database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _log_files(platform, basetemp: Path) -> dict[str, str]:
    paths = list(platform.log_dir.glob("*.log"))
    assert {"api.log", "worker.log"} <= {path.name for path in paths}
    if not os.environ.get("PAYPLANE_TEST_DATABASE_URL"):
        # The embedded server's own log (failed statements, with their rows), tests/conftest.py.
        server_logs = list(basetemp.glob("postgres*/postgres.log"))
        assert server_logs
        paths += server_logs
    return {str(path): path.read_text(errors="replace") for path in paths}


async def _stream_messages(nats_url: str) -> list[str]:
    """Every message on the stream, body and headers, from its first."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc, js = await connect(nats_url, reconnect=False)
    try:
        total = (await js.stream_info(STREAM)).state.messages
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
        sub = await js.pull_subscribe(SUBJECTS, stream=STREAM, config=config)
        texts: list[str] = []
        while len(texts) < total:
            for message in await sub.fetch(1000, timeout=10):
                texts.append(f"{message.headers} {message.data.decode(errors='replace')}")
        await sub.unsubscribe()
        return texts
    finally:
        await nc.close()


def test_card_numbers_are_refused_everywhere_and_found_nowhere(
    platform, canary_merchant, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ids = canary_merchant
    before = _stored(platform, ids["merchant"])
    problems: list[str] = []
    with api(platform, ids["secret"]) as client:
        for entry in ENTRIES:
            for pan in SENT:
                response = entry.send(client, ids, pan)
                problems += [
                    f"{entry.name} with {pan!r}: {p}"
                    for p in _refusal_problems(response, entry.param(pan))
                ]
    try:
        stripe_client(platform, ids["secret"]).v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "metadata": {"note": CANARIES[0]}}
        )
        problems.append("the stripe SDK's request was accepted")
    except stripe.InvalidRequestError as exc:
        if (exc.code, exc.param) != ("card_number_in_field", "metadata[note]"):
            problems.append(f"the stripe SDK saw {exc.code} {exc.param}")
    after = _stored(platform, ids["merchant"])
    if after != before:
        problems.append(f"rows were written or changed: {before} -> {after}")

    _wait_until_published(platform)
    messages = asyncio.run(_stream_messages(platform.nats_url))
    sources = {
        "database dump": _database_dump(platform),
        **_log_files(platform, tmp_path_factory.getbasetemp()),
    }
    sources.update({f"NATS message {n}": text for n, text in enumerate(messages)})
    leaks = [f"{d} in {source}" for source, text in sources.items() for d in _digits_in(text)]

    if problems or leaks:
        pytest.fail(
            "\n".join(
                ["canary card numbers found:", *leaks, "not refused as they should be:", *problems]
            ),
            pytrace=False,
        )
    # What was searched is real: the canary merchant's payment is in the dump and on NATS.
    assert ids["paid"] in sources["database dump"]
    assert any(ids["paid"] in text for text in messages)
