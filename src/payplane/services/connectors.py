"""Routing: which connector serves a payment method type, and finding a connector by name.

Attempts record the connector that made them, so every later call about an attempt (capture,
refund, lookup, status) goes back to that connector whatever the routing says today.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from payplane.domain.errors import InvalidRequest
from payplane.domain.payment_intent import CaptureMethod
from payplane.domain.payment_method import MethodRules
from payplane.services.ports import PspConnector


class Connectors:
    def __init__(self, connectors: Iterable[PspConnector]) -> None:
        self._by_name: dict[str, PspConnector] = {}
        self._by_method: dict[str, PspConnector] = {}
        for connector in connectors:
            if connector.name in self._by_name:
                raise ValueError(f"two connectors are named {connector.name}")
            self._by_name[connector.name] = connector
            for method_type in connector.methods:
                # The first connector listed for a type serves it.
                self._by_method.setdefault(method_type, connector)
        if not self._by_name:
            raise ValueError("at least one connector is needed")

    @property
    def primary(self) -> PspConnector:
        """The first connector: the card acquirer, whose dispute feed is followed."""
        return next(iter(self._by_name.values()))

    @property
    def method_types(self) -> list[str]:
        return sorted(self._by_method)

    def __iter__(self) -> Iterator[PspConnector]:
        return iter(self._by_name.values())

    def get(self, name: str) -> PspConnector:
        try:
            return self._by_name[name]
        except KeyError:
            raise LookupError(f"no connector named {name} is configured") from None

    def for_method(self, method_type: str, *, param: str = "payment_method") -> PspConnector:
        connector = self._by_method.get(method_type)
        if connector is None:
            raise InvalidRequest(
                f"The payment method type {method_type} is not enabled: no connector serves it. "
                f"Enabled types: {', '.join(self.method_types)}.",
                code="payment_method_unactivated",
                param=param,
            )
        return connector

    def rules(self, method_type: str, *, param: str = "payment_method") -> MethodRules:
        return self.for_method(method_type, param=param).methods[method_type]

    def check_types(
        self, method_types: list[str], currency: str, capture_method: CaptureMethod
    ) -> None:
        """Refuse an intent whose listed types cannot take its currency or capture method."""
        for index, method_type in enumerate(method_types):
            rules = self.rules(method_type, param=f"payment_method_types[{index}]")
            rules.check_intent(method_type, currency, capture_method)
