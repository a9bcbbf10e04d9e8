"""Request bodies accepted by the /v1 API, validated strictly so that bad input stores nothing."""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from psp_simulator.errors import from_validation_error

MAX_AMOUNT = 99_999_999
MAX_URL_LENGTH = 2048
MAX_EVIDENCE_FIELDS = 20
MAX_EVIDENCE_LENGTH = 20_000

PayloadT = TypeVar("PayloadT", bound=BaseModel)


def parse(model: type[PayloadT], payload: object) -> PayloadT:
    """Validate a decoded body, reporting the first problem as a 400 that stores nothing."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardDetails(_Payload):
    # repr=False keeps the PAN and CVC out of logs, tracebacks and validation dumps.
    number: Annotated[StrictStr, Field(pattern=r"^[0-9]{12,19}$", repr=False)]
    exp_month: Annotated[StrictInt, Field(ge=1, le=12)]
    exp_year: Annotated[StrictInt, Field(ge=2000, le=2199)]
    # Optional: a saved card's later charges carry no CVC (the vault forgets it after the first).
    cvc: Annotated[StrictStr, Field(pattern=r"^[0-9]{3,4}$")] | None = Field(None, repr=False)


# With a host, in printable ASCII: these URLs go into Location headers and HTML attributes.
_ABSOLUTE_URL = re.compile(r"https?://[A-Za-z0-9\[][!-~]*")


def _check_absolute_url(url: str) -> str:
    if not _ABSOLUTE_URL.fullmatch(url):
        raise ValueError("must be an absolute http or https URL in printable ASCII.")
    return url


AbsoluteUrl = Annotated[
    StrictStr, Field(max_length=MAX_URL_LENGTH), AfterValidator(_check_absolute_url)
]


class AuthorizationRequest(_Payload):
    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]
    currency: Annotated[StrictStr, Field(pattern=r"^[a-z]{3}$")]
    payment_method: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None
    card: CardDetails | None = None
    merchant_reference: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    capture: StrictBool = False
    # Where a hosted page sends the customer back to.
    return_url: AbsoluteUrl | None = None

    @model_validator(mode="after")
    def _one_payment_source(self) -> AuthorizationRequest:
        if (self.payment_method is None) == (self.card is None):
            raise ValueError("Provide exactly one of payment_method or card.")
        return self


class CaptureRequest(_Payload):
    # No upper bound here: anything above the authorized amount is the business error
    # amount_too_large, which callers can tell apart from malformed input.
    amount: Annotated[StrictInt, Field(gt=0)] | None = None


class VoidRequest(_Payload):
    pass


class ExpireRequest(_Payload):
    pass


class RefundRequest(_Payload):
    # Unbounded above for the same reason as CaptureRequest: too much is amount_too_large.
    amount: Annotated[StrictInt, Field(gt=0)] | None = None


class CancelRefundRequest(_Payload):
    pass


class EvidenceRequest(_Payload):
    evidence: Annotated[
        dict[
            Annotated[StrictStr, Field(min_length=1, max_length=255)],
            Annotated[StrictStr, Field(max_length=MAX_EVIDENCE_LENGTH)],
        ],
        Field(max_length=MAX_EVIDENCE_FIELDS),
    ] = Field(default_factory=dict)
    submit: StrictBool = False


class CloseDisputeRequest(_Payload):
    pass


class DisputeListQuery(_Payload):
    # Query strings are text, so these are the lax int: "5" is 5.
    changed_after: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=100)] = 100
