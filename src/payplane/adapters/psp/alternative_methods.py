"""Connectors for the simulator's alternative payment methods, one per product.

Each is reached on its own creation endpoint and serves its own payment method types under its
own rules; a failure of any of them reads, as Stripe has it, as a failed payment attempt rather
than a card decline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from payplane.adapters.psp.simulator import SimulatorConnector
from payplane.domain.payment_method import MethodRules
from payplane.services.ports import PspOutcome, PspResult

_EURO_ONLY = frozenset({"eur"})


class _AlternativeMethod(SimulatorConnector):
    @classmethod
    def read(cls, status_code: int, body: dict[str, Any]) -> PspResult:
        result = super().read(status_code, body)
        if result.outcome is PspOutcome.DECLINED and result.error_type == "card_error":
            return replace(
                result,
                error_type="invalid_request_error",
                error_code="payment_intent_payment_attempt_failed",
                message=result.message or "The payment failed.",
            )
        return result


class WalletConnector(_AlternativeMethod):
    """A PayPal-like wallet: the customer approves on the wallet's page, the result is
    immediate, and an authorization may be captured later."""

    name: ClassVar[str] = "sim_wallet"
    create_path: ClassVar[str] = "/v1/wallet_payments"
    methods: ClassVar[Mapping[str, MethodRules]] = {
        "paypal": MethodRules(
            currencies=frozenset({"usd", "eur", "gbp"}), manual_capture=True, needs_return_url=True
        )
    }


class BankRedirectConnector(_AlternativeMethod):
    """An iDEAL-like bank redirect: approved at the bank, then processing until the bank's
    confirmation arrives (by webhook or status check); captured on completion, euro only."""

    name: ClassVar[str] = "sim_bank_redirect"
    create_path: ClassVar[str] = "/v1/bank_redirects"
    methods: ClassVar[Mapping[str, MethodRules]] = {
        "ideal": MethodRules(currencies=_EURO_ONLY, manual_capture=False, needs_return_url=True)
    }


class BankDebitConnector(_AlternativeMethod):
    """A SEPA Direct Debit-like debit: no redirect, processing for days, then succeeded or
    failed; refunds take days too (they stay pending until the bank confirms)."""

    name: ClassVar[str] = "sim_bank_debit"
    create_path: ClassVar[str] = "/v1/direct_debits"
    methods: ClassVar[Mapping[str, MethodRules]] = {
        "sepa_debit": MethodRules(currencies=_EURO_ONLY, manual_capture=False)
    }
