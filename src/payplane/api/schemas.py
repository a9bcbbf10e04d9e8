"""Request parameters as pydantic models, validated the way Stripe validates them.

Form bodies carry every value as a string; the validators below accept those strings and the
equivalent JSON types, but never a float for money.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from payplane.domain.payment_intent import CaptureMethod


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped.lstrip("-").isdigit():
            raise ValueError("must be an integer")
        return int(stripped)
    if isinstance(value, int):
        return value
    raise ValueError("must be an integer")


Integer = Annotated[int, BeforeValidator(_integer)]

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


def _metadata(value: Any) -> Any:
    if value == "":
        return value  # Stripe: metadata="" unsets every key
    if not isinstance(value, dict):
        raise ValueError("must be a hash of string keys and values")
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"can have at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise ValueError(f"keys can be at most {MAX_METADATA_KEY_LENGTH} characters long")
        if not isinstance(item, str | int):
            raise ValueError("values must be strings")
        if len(str(item)) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(f"values can be at most {MAX_METADATA_VALUE_LENGTH} characters long")
    return {key: str(item) for key, item in value.items()}


Metadata = Annotated[dict[str, str] | Literal[""], BeforeValidator(_metadata)]
ShortText = Annotated[str, Field(max_length=5000)]
PaymentMethodId = Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9_]{1,200}$")]


class StripeParams(BaseModel):
    # Stripe's libraries may always send expand[]; we accept it and return ids unexpanded.
    model_config = ConfigDict(extra="forbid")
    expand: list[str] | None = None


class CreatePaymentIntent(StripeParams):
    amount: Integer
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirm: bool = False
    payment_method: PaymentMethodId | None = None
    payment_method_types: list[Literal["card"]] | None = None
    customer: ShortText | None = None
    description: ShortText | None = None
    metadata: Metadata | None = None

    @field_validator("customer", "description")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        return value or None


class UpdatePaymentIntent(StripeParams):
    amount: Integer | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    capture_method: CaptureMethod | None = None
    payment_method: PaymentMethodId | None = None
    customer: ShortText | None = None
    description: ShortText | None = None
    metadata: Metadata | None = None


class ConfirmPaymentIntent(StripeParams):
    payment_method: PaymentMethodId | None = None
    return_url: Annotated[str, Field(max_length=2048)] | None = None


class CapturePaymentIntent(StripeParams):
    amount_to_capture: Integer | None = None


class CancelPaymentIntent(StripeParams):
    cancellation_reason: (
        Literal["duplicate", "fraudulent", "requested_by_customer", "abandoned"] | None
    ) = None


class CreatedFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gt: Integer | None = None
    gte: Integer | None = None
    lt: Integer | None = None
    lte: Integer | None = None


class ListParams(StripeParams):
    limit: Annotated[Integer, Field(ge=1, le=100)] = 10
    starting_after: str | None = None
    ending_before: str | None = None
    created: CreatedFilter | Integer | None = None


class ListPaymentIntents(ListParams):
    customer: str | None = None


class ListEvents(ListParams):
    type: str | None = None
