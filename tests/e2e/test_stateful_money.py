"""Random sequences of every money movement against the real API and database; after each step
the ledger must still agree with itself and with every payment (payplane ledger check)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from tests.e2e.support import query

from payplane.adapters.db.ledger_check import check_ledger

DECLINING = "pm_card_visa_chargeDeclinedInsufficientFunds"


@dataclass
class Expected:
    """What the model says a payment must look like."""

    amount: int
    status: str
    received: int = 0
    refunded: int = 0


def make_machine(platform, secret: str):
    class MoneyMachine(RuleBasedStateMachine):
        intents = Bundle("intents")

        @initialize()
        def open_client(self) -> None:
            self.client = httpx.Client(base_url=platform.api_url, auth=(secret, ""), timeout=30)
            self.model: dict[str, Expected] = {}

        def teardown(self) -> None:
            self.client.close()

        def _post(self, path: str, **data: object) -> httpx.Response:
            response = self.client.post(path, data={k: str(v) for k, v in data.items()})
            assert response.status_code < 500, response.text
            return response

        @rule(
            target=intents,
            amount=st.integers(100, 20_000),
            manual=st.booleans(),
            currency=st.sampled_from(["usd", "eur", "jpy"]),
        )
        def create(self, amount: int, manual: bool, currency: str) -> str:
            body = self._post(
                "/v1/payment_intents",
                amount=amount,
                currency=currency,
                capture_method="manual" if manual else "automatic",
            ).json()
            self.model[body["id"]] = Expected(amount, "requires_payment_method")
            return str(body["id"])

        @rule(intent=intents, declined=st.booleans())
        def confirm(self, intent: str, declined: bool) -> None:
            response = self._post(
                f"/v1/payment_intents/{intent}/confirm",
                payment_method=DECLINING if declined else "pm_card_visa",
            )
            expected = self.model[intent]
            if expected.status not in ("requires_payment_method", "requires_confirmation"):
                assert response.status_code == 400
                return
            if declined:
                assert response.status_code == 402
                return
            body = response.json()
            assert response.status_code == 200, body
            expected.status = body["status"]
            assert expected.status in ("succeeded", "requires_capture")
            if expected.status == "succeeded":
                expected.received = expected.amount

        @rule(intent=intents, fraction=st.floats(0.01, 1.2))
        def capture(self, intent: str, fraction: float) -> None:
            expected = self.model[intent]
            amount = max(1, int(expected.amount * fraction))
            response = self._post(f"/v1/payment_intents/{intent}/capture", amount_to_capture=amount)
            if expected.status != "requires_capture" or amount > expected.amount:
                assert response.status_code == 400
                return
            assert response.status_code == 200, response.text
            expected.status, expected.received = "succeeded", amount

        @rule(intent=intents)
        def cancel(self, intent: str) -> None:
            expected = self.model[intent]
            response = self._post(f"/v1/payment_intents/{intent}/cancel")
            if expected.status in ("succeeded", "canceled"):
                assert response.status_code == 400
                return
            assert response.status_code == 200, response.text
            expected.status = "canceled"

        @rule(intent=intents, amount=st.integers(1, 25_000))
        def refund(self, intent: str, amount: int) -> None:
            expected = self.model[intent]
            response = self._post("/v1/refunds", payment_intent=intent, amount=amount)
            if expected.status != "succeeded" or amount > expected.received - expected.refunded:
                assert response.status_code == 400, response.text
                return
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "succeeded"
            expected.refunded += amount

        @rule(intent=intents, outcome=st.sampled_from(["won", "lost", None]))
        def dispute(self, intent: str, outcome: str | None) -> None:
            if self.model[intent].status != "succeeded":
                return
            reference = query(
                platform,
                "SELECT psp_reference FROM payment_attempts WHERE "
                "payment_intent_id = %s AND kind = 'authorize' AND "
                "status = 'succeeded'",
                intent,
            )[0]["psp_reference"]
            opened = httpx.post(
                f"{platform.simulator_url}/admin/disputes",
                json={"authorization": reference},
                timeout=10,
            )
            if opened.status_code == 200 and outcome is not None:
                httpx.post(
                    f"{platform.simulator_url}/admin/disputes/{opened.json()['id']}/status",
                    json={"status": outcome},
                    timeout=10,
                ).raise_for_status()

        @invariant()
        def api_agrees_with_the_model(self) -> None:
            for intent_id, expected in self.model.items():
                body = self.client.get(f"/v1/payment_intents/{intent_id}").json()
                assert body["status"] == expected.status, (intent_id, body, expected)
                assert body["amount_received"] == expected.received
                assert body["amount_refunded"] == expected.refunded

        @invariant()
        def ledger_is_consistent(self) -> None:
            with psycopg.connect(platform.database_url) as conn:
                violations = check_ledger(conn)
            assert violations == [], violations

    return MoneyMachine


def test_random_money_movements_keep_the_ledger_consistent(platform) -> None:
    _, secret = platform.new_merchant("stateful")
    machine = make_machine(platform, secret)
    machine.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=14,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine.TestCase().runTest()
