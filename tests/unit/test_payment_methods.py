"""Payment method types, their rules, and routing to the connector that serves each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from payplane.adapters.psp.alternative_methods import (
    BankDebitConnector,
    BankRedirectConnector,
    WalletConnector,
)
from payplane.adapters.psp.simulator import SimulatorConnector
from payplane.domain.errors import InvalidRequest
from payplane.domain.payment_intent import CaptureMethod
from payplane.domain.payment_method import MethodRules, type_of
from payplane.services.connectors import Connectors


@pytest.mark.parametrize(
    ("token", "method_type"),
    [
        ("pm_card_visa", "card"),
        ("pm_card_authenticationRequired", "card"),
        ("pm_1Abc", "card"),
        ("pm_paypal", "paypal"),
        ("pm_paypal_declined", "paypal"),
        ("pm_ideal", "ideal"),
        ("pm_sepa_debit", "sepa_debit"),
        ("pm_sepa_debit_fails", "sepa_debit"),
    ],
)
def test_a_tokens_type(token: str, method_type: str) -> None:
    assert type_of(token) == method_type


class _Named:
    """Only what routing reads of a connector."""

    def __init__(self, name: str, methods: Mapping[str, MethodRules]) -> None:
        self.name = name
        self.methods = methods


def _connectors() -> Connectors:
    kinds: list[Any] = [
        SimulatorConnector,
        WalletConnector,
        BankRedirectConnector,
        BankDebitConnector,
    ]
    return Connectors(_Named(k.name, k.methods) for k in kinds)


def test_each_type_routes_to_the_connector_that_serves_it() -> None:
    connectors = _connectors()
    assert connectors.for_method("card").name == "simulator"
    assert connectors.for_method("paypal").name == "sim_wallet"
    assert connectors.for_method("ideal").name == "sim_bank_redirect"
    assert connectors.for_method("sepa_debit").name == "sim_bank_debit"
    assert connectors.primary.name == "simulator"
    assert connectors.method_types == ["card", "ideal", "paypal", "sepa_debit"]


def test_an_unserved_type_is_refused_with_the_enabled_ones_named() -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        _connectors().check_types(["card", "klarna"], "eur", CaptureMethod.AUTOMATIC)
    assert excinfo.value.code == "payment_method_unactivated"
    assert excinfo.value.param == "payment_method_types[1]"
    assert "card, ideal, paypal, sepa_debit" in str(excinfo.value)


@pytest.mark.parametrize(
    ("types", "currency", "capture", "param"),
    [
        (["ideal"], "usd", CaptureMethod.AUTOMATIC, "currency"),
        (["sepa_debit"], "gbp", CaptureMethod.AUTOMATIC, "currency"),
        (["paypal"], "jpy", CaptureMethod.AUTOMATIC, "currency"),
        (["card", "ideal"], "eur", CaptureMethod.MANUAL, "capture_method"),
        (["sepa_debit"], "eur", CaptureMethod.MANUAL, "capture_method"),
    ],
)
def test_currency_and_capture_rules_per_method(
    types: list[str], currency: str, capture: CaptureMethod, param: str
) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        _connectors().check_types(types, currency, capture)
    assert excinfo.value.param == param
    assert excinfo.value.code == "payment_intent_invalid_parameter"


def test_what_each_method_allows() -> None:
    connectors = _connectors()
    connectors.check_types(["card"], "jpy", CaptureMethod.MANUAL)
    connectors.check_types(["paypal"], "gbp", CaptureMethod.MANUAL)
    connectors.check_types(["card", "ideal", "sepa_debit"], "eur", CaptureMethod.AUTOMATIC)


def test_redirect_methods_need_a_return_url() -> None:
    connectors = _connectors()
    for method_type in ("paypal", "ideal"):
        with pytest.raises(InvalidRequest) as excinfo:
            connectors.rules(method_type).check_confirmation(method_type, None)
        assert (excinfo.value.code, excinfo.value.param) == ("parameter_missing", "return_url")
    connectors.rules("card").check_confirmation("card", None)
    connectors.rules("sepa_debit").check_confirmation("sepa_debit", None)


def test_two_connectors_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two connectors"):
        Connectors([_Named("a", {}), _Named("a", {})])
