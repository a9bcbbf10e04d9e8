"""/v1/disputes: Stripe's Disputes API (list, retrieve, update with evidence, close)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import ListParams, Metadata, StripeParams
from payplane.domain.access import Principal
from payplane.services.disputes import DisputeService, UpdateParams

router = APIRouter(prefix="/v1/disputes", tags=["disputes"])
Reader = Annotated[Principal, Depends(permission("disputes", "read"))]
Writer = Annotated[Principal, Depends(permission("disputes", "write"))]

# Stripe's limits: each text field, and all of them together.
MAX_EVIDENCE_FIELD_LENGTH = 20_000
MAX_EVIDENCE_TOTAL_LENGTH = 150_000
EvidenceText = Annotated[str, Field(max_length=MAX_EVIDENCE_FIELD_LENGTH)]


class DisputeEvidence(BaseModel):
    """Stripe's text evidence fields; its file fields need a Files API Payplane does not have."""

    model_config = ConfigDict(extra="forbid")
    access_activity_log: EvidenceText | None = None
    billing_address: EvidenceText | None = None
    cancellation_policy_disclosure: EvidenceText | None = None
    cancellation_rebuttal: EvidenceText | None = None
    customer_email_address: EvidenceText | None = None
    customer_name: EvidenceText | None = None
    customer_purchase_ip: EvidenceText | None = None
    duplicate_charge_explanation: EvidenceText | None = None
    duplicate_charge_id: EvidenceText | None = None
    product_description: EvidenceText | None = None
    refund_policy_disclosure: EvidenceText | None = None
    refund_refusal_explanation: EvidenceText | None = None
    service_date: EvidenceText | None = None
    shipping_address: EvidenceText | None = None
    shipping_carrier: EvidenceText | None = None
    shipping_date: EvidenceText | None = None
    shipping_tracking_number: EvidenceText | None = None
    uncategorized_text: EvidenceText | None = None

    @model_validator(mode="after")
    def _within_total(self) -> DisputeEvidence:
        total = sum(len(value) for value in self.given().values())
        if total > MAX_EVIDENCE_TOTAL_LENGTH:
            raise ValueError(
                f"the evidence fields together have {total} characters; "
                f"at most {MAX_EVIDENCE_TOTAL_LENGTH} are allowed"
            )
        return self

    def given(self) -> dict[str, str]:
        return self.model_dump(exclude_none=True)


class UpdateDispute(StripeParams):
    evidence: DisputeEvidence | None = None
    metadata: Metadata | None = None
    submit: bool | None = None


class ListDisputes(ListParams):
    payment_intent: str | None = None
    charge: str | None = None


async def _service(request: Request) -> DisputeService:
    service: DisputeService = request.app.state.disputes
    return service


Service = Annotated[DisputeService, Depends(_service)]


@router.get("")
async def list_disputes(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListDisputes, call.params)
    filters = {"payment_intent_id": p.payment_intent, "charge": p.charge}
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, filters)
    return list_object(await service.list(call.ctx, query), "/v1/disputes")


@router.get("/{dispute_id}")
async def retrieve(dispute_id: str, request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve(call.ctx, dispute_id))


@router.post("/{dispute_id}")
async def update(dispute_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(UpdateDispute, call.params)
    params = UpdateParams(
        evidence=p.evidence.given() if p.evidence is not None else None,
        submit=p.submit,
        metadata=p.metadata,
    )
    return respond(await service.update(call.ctx, call.shape, dispute_id, params))


@router.post("/{dispute_id}/close")
async def close(dispute_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    parse(StripeParams, call.params)
    return respond(await service.close(call.ctx, call.shape, dispute_id))
