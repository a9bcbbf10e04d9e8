"""The PaymentIntent aggregate and its state machine.

TRANSITIONS is the only place a status change is decided: every path (API call, PSP response,
PSP webhook, resolver, expiry job) asks `next_status`, so a late or duplicated fact can never
move an intent backwards - there is simply no edge for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from payplane.domain.errors import InvalidAmount, InvalidRequest, UnexpectedState
from payplane.domain.money import Money


class Status(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"


class Trigger(StrEnum):
    ATTACH_PAYMENT_METHOD = "attach_payment_method"
    CONFIRM = "confirm"
    REQUIRE_ACTION = "require_action"
    AWAIT_RESULT = "await_result"  # the customer acted; the PSP reports the result later
    AUTHORIZE = "authorize"
    AUTHORIZE_AND_CAPTURE = "authorize_and_capture"
    DECLINE = "decline"
    PSP_UNAVAILABLE = "psp_unavailable"
    CAPTURE = "capture"
    CANCEL = "cancel"
    EXPIRE = "expire"


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


S, T = Status, Trigger
TRANSITIONS: dict[Status, dict[Trigger, Status]] = {
    S.REQUIRES_PAYMENT_METHOD: {
        T.ATTACH_PAYMENT_METHOD: S.REQUIRES_CONFIRMATION,
        T.CONFIRM: S.PROCESSING,
        T.CANCEL: S.CANCELED,
    },
    S.REQUIRES_CONFIRMATION: {
        T.ATTACH_PAYMENT_METHOD: S.REQUIRES_CONFIRMATION,
        T.CONFIRM: S.PROCESSING,
        T.CANCEL: S.CANCELED,
    },
    S.REQUIRES_ACTION: {
        T.AUTHORIZE: S.REQUIRES_CAPTURE,
        T.AUTHORIZE_AND_CAPTURE: S.SUCCEEDED,
        T.DECLINE: S.REQUIRES_PAYMENT_METHOD,
        T.AWAIT_RESULT: S.PROCESSING,
        T.CANCEL: S.CANCELED,
    },
    S.PROCESSING: {
        T.REQUIRE_ACTION: S.REQUIRES_ACTION,
        T.AUTHORIZE: S.REQUIRES_CAPTURE,
        T.AUTHORIZE_AND_CAPTURE: S.SUCCEEDED,
        T.DECLINE: S.REQUIRES_PAYMENT_METHOD,
        # The PSP refused the call before doing anything: nothing was charged, confirm again.
        T.PSP_UNAVAILABLE: S.REQUIRES_CONFIRMATION,
    },
    S.REQUIRES_CAPTURE: {
        T.CAPTURE: S.SUCCEEDED,
        T.CANCEL: S.CANCELED,
        T.EXPIRE: S.CANCELED,
    },
    S.SUCCEEDED: {},
    S.CANCELED: {},
}
del S, T

# Stripe's wording for "you cannot <verb> ... may be <participle>".
_VERBS: dict[Trigger, tuple[str, str]] = {
    Trigger.CONFIRM: ("confirm", "confirmed"),
    Trigger.CAPTURE: ("capture", "captured"),
    Trigger.CANCEL: ("cancel", "canceled"),
    Trigger.ATTACH_PAYMENT_METHOD: ("update", "updated"),
}

# cancellation_reason of an authorization canceled because it expired uncaptured.
AUTOMATIC = "automatic"

UPDATABLE = frozenset({Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION})


def allowed_from(trigger: Trigger) -> list[Status]:
    return [status for status, edges in TRANSITIONS.items() if trigger in edges]


def can(status: Status, trigger: Trigger) -> bool:
    return trigger in TRANSITIONS[status]


def next_status(status: Status, trigger: Trigger) -> Status:
    """The status after `trigger`, or UnexpectedState with Stripe's message if there is no edge."""
    try:
        return TRANSITIONS[status][trigger]
    except KeyError:
        verb, participle = _VERBS.get(trigger, (trigger.value, trigger.value))
        allowed = ", ".join(s.value for s in allowed_from(trigger))
        raise UnexpectedState(
            f"You cannot {verb} this PaymentIntent because it has a status of {status.value}. "
            f"Only a PaymentIntent with one of the following statuses may be {participle}: "
            f"{allowed}."
        ) from None


@dataclass(frozen=True, slots=True)
class PaymentError:
    """last_payment_error: what the issuer or PSP said about the failed attempt."""

    type: str
    code: str
    message: str
    decline_code: str | None = None
    payment_method: str | None = None
    payment_method_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "code": self.code,
            "decline_code": self.decline_code,
            "message": self.message,
            "payment_method": (
                {"id": self.payment_method, "type": self.payment_method_type}
                if self.payment_method
                else None
            ),
        }


@dataclass(slots=True)
class PaymentIntent:
    id: str
    merchant_id: str
    amount: int
    currency: str
    status: Status
    capture_method: CaptureMethod
    created: int
    payment_method: str | None = None
    customer: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    last_payment_error: PaymentError | None = None
    amount_capturable: int = 0
    amount_received: int = 0
    amount_refunded: int = 0  # pending and succeeded refunds
    capture_before: int | None = None  # an uncaptured authorization expires then
    latest_charge: str | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    livemode: bool = False
    payment_method_types: list[str] = field(default_factory=lambda: ["card"])
    client_secret: str | None = None
    return_url: str | None = None  # where the customer comes back to after a redirect
    next_action: dict[str, Any] | None = None  # set only while requires_action
    connector: str | None = None  # of the latest authorization attempt
    events: list[str] = field(default_factory=list)

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    def _move(self, trigger: Trigger) -> None:
        self.status = next_status(self.status, trigger)
        if self.status is not Status.REQUIRES_ACTION:
            self.next_action = None

    def update(self, changes: dict[str, Any]) -> None:
        """Apply an update; money-affecting fields only before confirmation (Stripe's rule)."""
        money_fields = {
            "amount",
            "currency",
            "payment_method",
            "payment_method_types",
            "capture_method",
            "customer",
        }
        if money_fields & changes.keys() and self.status not in UPDATABLE:
            raise UnexpectedState(
                f"You cannot update this PaymentIntent because it has a status of "
                f"{self.status.value}."
            )
        for name, value in changes.items():
            if name == "metadata":
                self.metadata = {} if value is None else merge_metadata(self.metadata, value)
            else:
                setattr(self, name, value)
        if "payment_method" in changes:
            self.status = (
                Status.REQUIRES_CONFIRMATION
                if self.payment_method
                else Status.REQUIRES_PAYMENT_METHOD
            )

    def begin_confirmation(self) -> None:
        next_status(self.status, Trigger.CONFIRM)  # state check first: it is the clearer error
        if not self.payment_method:
            raise InvalidRequest(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm it, specify a payment_method.",
                code="payment_intent_unexpected_state",
                param="payment_method",
            )
        self._move(Trigger.CONFIRM)
        self.last_payment_error = None
        self.events.append("payment_intent.processing")

    def authorized(self, charge_id: str, *, capture_before: int | None = None) -> None:
        if self.capture_method is CaptureMethod.AUTOMATIC:
            self._move(Trigger.AUTHORIZE_AND_CAPTURE)
            self.amount_received = self.amount
            self.events += ["charge.succeeded", "payment_intent.succeeded"]
        else:
            self._move(Trigger.AUTHORIZE)
            self.amount_capturable = self.amount
            self.capture_before = capture_before
            self.events += ["charge.succeeded", "payment_intent.amount_capturable_updated"]
        self.latest_charge = charge_id

    def declined(self, error: PaymentError, charge_id: str) -> None:
        self._move(Trigger.DECLINE)
        self.latest_charge = charge_id
        self.last_payment_error = error
        self.payment_method = None
        self.events += ["charge.failed", "payment_intent.payment_failed"]

    def requires_action(self, redirect_url: str) -> None:
        """The customer must authorize on the PSP's page, then comes back to return_url."""
        self._move(Trigger.REQUIRE_ACTION)
        self.next_action = {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": redirect_url, "return_url": self.return_url},
        }
        self.events.append("payment_intent.requires_action")

    def awaiting_result(self, charge_id: str) -> None:
        """The PSP accepted the payment and reports its result later (bank redirects, debits)."""
        if self.status is Status.REQUIRES_ACTION:
            self._move(Trigger.AWAIT_RESULT)
            self.events.append("payment_intent.processing")
        elif self.status is not Status.PROCESSING:
            next_status(self.status, Trigger.AWAIT_RESULT)  # raises: no such edge
        self.latest_charge = charge_id
        self.events.append("charge.pending")

    def psp_unavailable(self) -> None:
        # Stripe has no event for this: the intent simply waits to be confirmed again.
        self._move(Trigger.PSP_UNAVAILABLE)

    def check_capture(self, amount_to_capture: int | None) -> int:
        """Validate a capture request and return the amount to capture."""
        next_status(self.status, Trigger.CAPTURE)
        amount = self.amount_capturable if amount_to_capture is None else amount_to_capture
        if amount < 1:
            raise InvalidAmount(
                "amount_to_capture", "This value must be greater than or equal to 1."
            )
        if amount > self.amount_capturable:
            raise InvalidAmount(
                "amount_to_capture",
                "The amount to capture must be less than or equal to the amount capturable "
                f"({self.amount_capturable}).",
                code="amount_too_large",
            )
        return amount

    def captured(self, amount: int) -> None:
        self._move(Trigger.CAPTURE)
        self.amount_received = amount
        self.amount_capturable = 0
        self.events += ["charge.captured", "payment_intent.succeeded"]

    def reserve_refund(self, amount: int | None) -> int:
        """Count a new refund against what is left to refund; returns the refund's amount."""
        if self.status is not Status.SUCCEEDED:
            hint = (
                " Cancel the PaymentIntent to release the uncaptured authorization instead."
                if self.status is Status.REQUIRES_CAPTURE
                else ""
            )
            raise UnexpectedState(
                f"This PaymentIntent has a status of {self.status.value} and no captured "
                f"charge to refund.{hint}",
                param="payment_intent",
            )
        remaining = self.amount_received - self.amount_refunded
        refund = remaining if amount is None else amount
        if refund < 1 and amount is None:
            raise InvalidAmount(
                "amount",
                "This PaymentIntent has been fully refunded already.",
                code="charge_already_refunded",
            )
        if refund < 1:
            raise InvalidAmount("amount", "This value must be greater than or equal to 1.")
        if refund > remaining:
            raise InvalidAmount(
                "amount",
                f"Refund amount ({refund}) is greater than the unrefunded amount on the "
                f"PaymentIntent ({remaining}).",
                code="amount_too_large",
            )
        self.amount_refunded += refund
        return refund

    def release_refund(self, amount: int) -> None:
        """A refund failed or was canceled: its amount is refundable again."""
        if not 0 < amount <= self.amount_refunded:
            raise ValueError("cannot release more than is reserved for refunds")
        self.amount_refunded -= amount

    def check_cancel(self) -> None:
        next_status(self.status, Trigger.CANCEL)

    def canceled(self, reason: str | None, at: int, *, trigger: Trigger = Trigger.CANCEL) -> None:
        self._move(trigger)
        self.canceled_at = at
        self.cancellation_reason = reason
        self.amount_capturable = 0
        self.events.append("payment_intent.canceled")

    def as_stripe_object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_received": self.amount_received,
            "amount_refunded": self.amount_refunded,
            "capture_method": self.capture_method.value,
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "last_payment_error": (
                self.last_payment_error.as_dict() if self.last_payment_error else None
            ),
            "latest_charge": self.latest_charge,
            "livemode": self.livemode,
            "metadata": dict(self.metadata),
            "next_action": self.next_action,
            "client_secret": self.client_secret,
            "payment_method": self.payment_method,
            "payment_method_types": list(self.payment_method_types),
            "status": self.status.value,
        }

    def as_charge_object(
        self,
        *,
        payment_method: str | None,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> dict[str, Any]:
        """The charge behind latest_charge, as the charge.* events carry it."""
        failed = failure_code is not None or failure_message is not None
        status = "failed" if failed else "succeeded"
        if not failed and self.status is Status.PROCESSING:
            status = "pending"  # accepted by the PSP, result later (bank redirects, debits)
        return {
            "id": self.latest_charge,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount_received,
            "amount_refunded": self.amount_refunded,
            "captured": self.amount_received > 0,
            "currency": self.currency,
            "failure_code": failure_code,
            "failure_message": failure_message,
            "livemode": self.livemode,
            "paid": status == "succeeded",
            "payment_intent": self.id,
            "payment_method": payment_method,
            "refunded": self.amount_received > 0 and self.amount_refunded == self.amount_received,
            "status": status,
        }


def merge_metadata(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """Stripe's rule: keys set to "" are removed, others are set; an empty update clears nothing."""
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
