"""Request parameters as pydantic models, validated the way Stripe validates them.

Form bodies carry every value as a string; the validators below accept those strings and the
equivalent JSON types, but never a float for money.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from payplane.domain.payment_intent import CaptureMethod
from payplane.services.webhooks import EVENT_TYPES

_ASCII_INTEGER = re.compile(r"-?[0-9]+")


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, int):
        return value
    raise ValueError("must be an integer")


Integer = Annotated[int, BeforeValidator(_integer)]


def _list(value: Any) -> Any:
    """Stripe's libraries send lists as expand[0]=a&expand[1]=b; the decoder keeps a hash."""
    if isinstance(value, dict) and all(_ASCII_INTEGER.fullmatch(key) for key in value):
        return [value[key] for key in sorted(value, key=int)]
    return value


Strings = Annotated[list[str], BeforeValidator(_list)]

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
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise ValueError("values must be strings")
        if len(str(item)) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(f"values can be at most {MAX_METADATA_VALUE_LENGTH} characters long")
    return {key: str(item) for key, item in value.items()}


Metadata = Annotated[dict[str, str] | Literal[""], BeforeValidator(_metadata)]
ShortText = Annotated[str, Field(max_length=5000)]
PaymentMethodId = Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9_]{1,200}$")]


def _http_url(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    blank = any(c.isspace() for c in value)
    if parts.scheme not in ("http", "https") or not parts.hostname or blank:
        raise ValueError("must be an http or https URL")
    return value


HttpUrl = Annotated[str, Field(max_length=2048), BeforeValidator(_http_url)]
# Payment method types are snake_case names; which ones are enabled is the connectors' business.
MethodTypes = Annotated[
    list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]],
    Field(min_length=1, max_length=20),
    BeforeValidator(_list),
]


class StripeParams(BaseModel):
    # Stripe's libraries may always send expand[]; we accept it and return ids unexpanded.
    model_config = ConfigDict(extra="forbid")
    expand: Annotated[list[str], BeforeValidator(_list)] | None = None


class CreatePaymentIntent(StripeParams):
    amount: Integer
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirm: bool = False
    payment_method: PaymentMethodId | None = None
    payment_method_types: MethodTypes | None = None
    return_url: HttpUrl | None = None
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
    payment_method_types: MethodTypes | None = None
    customer: ShortText | None = None
    description: ShortText | None = None
    metadata: Metadata | None = None


class ConfirmPaymentIntent(StripeParams):
    payment_method: PaymentMethodId | None = None
    return_url: HttpUrl | None = None


class CapturePaymentIntent(StripeParams):
    amount_to_capture: Integer | None = None


class CancelPaymentIntent(StripeParams):
    cancellation_reason: (
        Literal["duplicate", "fraudulent", "requested_by_customer", "abandoned"] | None
    ) = None


def _created(value: Any) -> Any:
    """created=T is shorthand for created[gte]=T&created[lte]=T."""
    if isinstance(value, dict):
        return value
    exact = _integer(value)
    return {"gte": exact, "lte": exact}


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
    created: Annotated[CreatedFilter, BeforeValidator(_created)] | None = None


class ListPaymentIntents(ListParams):
    customer: str | None = None


class ListEvents(ListParams):
    type: str | None = None


class CreateRefund(StripeParams):
    payment_intent: Annotated[str, Field(min_length=1, max_length=255)]
    amount: Integer | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None
    metadata: Metadata | None = None


class UpdateRefund(StripeParams):
    metadata: Metadata | None = None


class CancelRefund(StripeParams):
    pass


class ListRefunds(ListParams):
    payment_intent: str | None = None


class ListLedgerEntries(StripeParams):
    # Ledger lists page by id only: entries and accounts carry no `created` filter.
    limit: Annotated[Integer, Field(ge=1, le=100)] = 10
    starting_after: str | None = None
    ending_before: str | None = None


class ListLedgerAccounts(ListLedgerEntries):
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None


def _event_types(value: Any) -> Any:
    value = _list(value)
    if isinstance(value, list):
        if not value:
            raise ValueError("must list at least one event type, or '*' for all")
        for item in value:
            if item != "*" and item not in EVENT_TYPES:
                raise ValueError(f"{item!r} is not an event type Payplane sends ('*' is all)")
    return value


EventTypes = Annotated[list[str], BeforeValidator(_event_types)]


class CreateWebhookEndpoint(StripeParams):
    url: HttpUrl
    enabled_events: EventTypes
    description: ShortText | None = None
    metadata: Metadata | None = None
    api_version: Annotated[str, Field(max_length=64)] | None = None


class UpdateWebhookEndpoint(StripeParams):
    url: HttpUrl | None = None
    enabled_events: EventTypes | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    metadata: Metadata | None = None
    disabled: bool | None = None


class DeleteWebhookEndpoint(StripeParams):
    pass


class ResendWebhookEvent(StripeParams):
    event: Annotated[str, Field(min_length=1, max_length=255)]


class ListWebhookEndpoints(ListParams):
    pass


class ListWebhookDeliveries(ListLedgerEntries):  # pages by id: no `created` filter
    event: str | None = None
