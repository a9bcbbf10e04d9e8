"""Connector for the Payplane PSP simulator's cards (see psp_simulator's docstring for its API).

A card saved in the card vault is known to the core by its token only: its authorization goes
to the vault (mutual TLS, this process's certificate), which inserts the card and forwards it
to the PSP under the same Idempotency-Key. Everything after the authorization (capture, void,
refund, status, lookup) names the PSP's own reference and goes to the PSP directly.

The simulator's other products (wallet, bank redirect, bank debit) are connectors of their own
in sibling modules; they subclass this one and differ in where payments are created, which
payment method types they serve under which rules, and how their failures read to a merchant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Self

import httpx

from payplane.adapters.psp.resilience import NotSent, Resilience
from payplane.domain.errors import PspRefused, PspUnavailable
from payplane.domain.payment_method import MethodRules, is_vault_token
from payplane.services.ports import DisputeFeed, PspDispute, PspOutcome, PspResult

_SUCCESS_STATUSES = {"authorized", "captured", "voided"}
VAULT_FORWARD_PATH = "/internal/forward/authorizations"
AUTHENTICATION_FAILURE = PspResult(
    PspOutcome.DECLINED,
    error_type="invalid_request_error",
    error_code="payment_intent_authentication_failure",
    message=(
        "The provided PaymentMethod has failed authentication. You can provide "
        "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent "
        "again."
    ),
)


def _result(status_code: int, body: dict[str, Any]) -> PspResult:
    """Read a PSP answer, whether it came from the call itself or from an operation lookup."""
    if status_code == 200 and body.get("object") == "refund":
        # Accepted: whether it is pending, succeeded or already failed is the refund's status.
        return PspResult(
            PspOutcome.SUCCEEDED,
            psp_reference=body["id"],
            status=body["status"],
            failure_reason=body.get("failure_reason"),
        )
    if status_code == 200:
        return _authorization(body)
    error = body.get("error") or {}
    if status_code in (400, 404, 409) and error.get("code") != "idempotency_key_reused":
        # The PSP looked at the request and refused it: a definite "no", not an outage.
        return PspResult(
            PspOutcome.DECLINED, error_code=error.get("code"), message=error.get("message")
        )
    return PspResult(PspOutcome.UNKNOWN, message=f"PSP answered {status_code}")


def _authorization(body: dict[str, Any]) -> PspResult:
    status = body.get("status")
    if status in _SUCCESS_STATUSES:
        return PspResult(PspOutcome.SUCCEEDED, psp_reference=body["id"])
    if status == "requires_action":
        return PspResult(
            PspOutcome.ACTION_REQUIRED,
            psp_reference=body["id"],
            redirect_url=(body.get("next_action") or {}).get("url"),
        )
    if status == "pending":
        return PspResult(PspOutcome.PENDING, psp_reference=body["id"])
    decline = body.get("decline") or {}
    return PspResult(
        PspOutcome.DECLINED,
        psp_reference=body.get("id"),
        error_code=decline.get("code"),
        decline_code=decline.get("decline_code"),
        message=decline.get("message"),
    )


class SimulatorConnector:
    name: ClassVar[str] = "simulator"
    create_path: ClassVar[str] = "/v1/authorizations"
    methods: ClassVar[Mapping[str, MethodRules]] = {"card": MethodRules()}

    @classmethod
    def read(cls, status_code: int, body: dict[str, Any]) -> PspResult:
        """The one mapping of this product's answers, for calls, lookups and webhooks alike."""
        result = _result(status_code, body)
        if result.outcome is PspOutcome.DECLINED and result.error_code == "authentication_failed":
            # The customer failed or abandoned authentication: Stripe's wording, not a decline.
            return replace(
                AUTHENTICATION_FAILURE,
                psp_reference=result.psp_reference,
                decline_code=result.decline_code,
            )
        return result

    @classmethod
    def _read_forwarded(cls, status_code: int, body: dict[str, Any]) -> PspResult:
        """The vault answers the PSP's answer as it is, or its own error: 503 psp_unreachable
        (nothing sent; the resilience layer retries it), 504 psp_timeout and 502 (sent, outcome
        unknown), 404 or 400 (an unusable card: declined with the vault's code)."""
        if status_code in (401, 403):
            # The vault refused this process's certificate: nothing went to the PSP.
            error = body.get("error") or {}
            return PspResult(PspOutcome.NOT_APPLIED, message=error.get("message"))
        return cls.read(status_code, body)

    def __init__(
        self,
        client: httpx.AsyncClient,
        resilience: Resilience,
        vault: httpx.AsyncClient | None = None,
    ) -> None:
        self._client = client
        self._resilience = resilience
        self._vault = vault

    @classmethod
    def create(
        cls,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        resilience: Resilience,
        vault: httpx.AsyncClient | None = None,
    ) -> Self:
        """vault: a client of the card vault's internal port, for saved cards (none: the
        process has no certificate for it and saved cards cannot be charged)."""
        client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        return cls(client, resilience, vault)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(
        self,
        path: str,
        idempotency_key: str,
        body: dict[str, Any],
        *,
        reader: Callable[[int, dict[str, Any]], PspResult] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> PspResult:
        to = client or self._client
        try:
            response = await self._resilience.call(
                lambda: to.post(path, json=body, headers={"Idempotency-Key": idempotency_key})
            )
        except NotSent as exc:
            return PspResult(PspOutcome.NOT_APPLIED, message=str(exc))
        except httpx.HTTPError as exc:
            # Sent, then lost: a timeout or a reset. Only a lookup can tell what happened.
            return PspResult(PspOutcome.UNKNOWN, message=type(exc).__name__)
        return (reader or self.read)(response.status_code, response.json())

    async def authorize(
        self,
        *,
        idempotency_key: str,
        merchant_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        merchant_reference: str,
        capture: bool,
        return_url: str | None,
    ) -> PspResult:
        body: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "merchant_reference": merchant_reference,
            "capture": capture,
        }
        if return_url is not None:
            body["return_url"] = return_url
        if is_vault_token(payment_method):
            return await self._forward(idempotency_key, merchant_id, payment_method, body)
        return await self._post(
            self.create_path, idempotency_key, {**body, "payment_method": payment_method}
        )

    async def _forward(
        self, idempotency_key: str, merchant_id: str, payment_method: str, body: dict[str, Any]
    ) -> PspResult:
        if self._vault is None:
            return PspResult(
                PspOutcome.NOT_APPLIED,
                message="This process has no certificate for the card vault (payplane certs "
                "init), so saved cards cannot be charged.",
            )
        forwarding = {"merchant_id": merchant_id, "payment_method": payment_method}
        return await self._post(
            VAULT_FORWARD_PATH,
            idempotency_key,
            {**forwarding, "psp_request": body},
            reader=self._read_forwarded,
            client=self._vault,
        )

    async def authorization_status(self, psp_reference: str) -> PspResult:
        return await self._get_state(
            f"/v1/authorizations/{psp_reference}", self._authorization_state
        )

    async def _get_state(
        self, path: str, reader: Callable[[dict[str, Any]], PspResult]
    ) -> PspResult:
        """An object's current state; UNKNOWN whenever the PSP cannot be heard."""
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            return PspResult(PspOutcome.UNKNOWN, message=type(exc).__name__)
        if response.status_code != 200:
            return PspResult(PspOutcome.UNKNOWN, message=f"PSP answered {response.status_code}")
        return reader(response.json())

    async def expire_action(self, *, idempotency_key: str, psp_reference: str) -> PspResult:
        return await self._post(
            f"/v1/authorizations/{psp_reference}/expire",
            idempotency_key,
            {},
            reader=lambda code, body: (
                self._authorization_state(body) if code == 200 else self.read(code, body)
            ),
        )

    def _authorization_state(self, body: dict[str, Any]) -> PspResult:
        """An authorization's state, read as the answer to the authorize call that made it."""
        if body.get("status") == "voided":
            # A cancel of ours got there first: that call's own answer decides.
            return PspResult(PspOutcome.UNKNOWN, message="voided by another call")
        return self.read(200, body)

    async def capture(self, *, idempotency_key: str, psp_reference: str, amount: int) -> PspResult:
        return await self._post(
            f"/v1/authorizations/{psp_reference}/capture", idempotency_key, {"amount": amount}
        )

    async def void(self, *, idempotency_key: str, psp_reference: str) -> PspResult:
        return await self._post(f"/v1/authorizations/{psp_reference}/void", idempotency_key, {})

    async def lookup(self, idempotency_key: str) -> PspResult:
        try:
            response = await self._client.get(f"/v1/operations/{idempotency_key}")
        except httpx.HTTPError as exc:
            return PspResult(PspOutcome.UNKNOWN, message=type(exc).__name__)
        if response.status_code == 404:
            return PspResult(PspOutcome.NOT_APPLIED, message="the PSP never received it")
        if response.status_code != 200:
            return PspResult(PspOutcome.UNKNOWN, message=f"lookup answered {response.status_code}")
        operation = response.json()
        return self.read(operation["status_code"], operation["response"])

    async def refund(self, *, idempotency_key: str, psp_reference: str, amount: int) -> PspResult:
        return await self._post(
            f"/v1/authorizations/{psp_reference}/refunds", idempotency_key, {"amount": amount}
        )

    async def refund_status(self, psp_refund_id: str) -> PspResult:
        return await self._get_state(
            f"/v1/refunds/{psp_refund_id}", lambda body: self.read(200, body)
        )

    async def cancel_refund(self, *, idempotency_key: str, psp_refund_id: str) -> PspResult:
        return await self._post(f"/v1/refunds/{psp_refund_id}/cancel", idempotency_key, {})

    async def disputes_changed(self, *, after: int, limit: int) -> DisputeFeed:
        response = await self._client.get(
            "/v1/disputes", params={"changed_after": after, "limit": limit}
        )
        response.raise_for_status()
        body = response.json()
        return DisputeFeed([_dispute(d) for d in body["data"]], bool(body["has_more"]))

    async def submit_dispute_evidence(
        self, *, idempotency_key: str, psp_dispute_id: str, evidence: dict[str, str], submit: bool
    ) -> PspDispute:
        return await self._dispute_call(
            f"/v1/disputes/{psp_dispute_id}/evidence",
            idempotency_key,
            {"evidence": evidence, "submit": submit},
        )

    async def close_dispute(self, *, idempotency_key: str, psp_dispute_id: str) -> PspDispute:
        return await self._dispute_call(f"/v1/disputes/{psp_dispute_id}/close", idempotency_key, {})

    async def _dispute_call(
        self, path: str, idempotency_key: str, body: dict[str, Any]
    ) -> PspDispute:
        try:
            response = await self._resilience.call(
                lambda: self._client.post(
                    path, json=body, headers={"Idempotency-Key": idempotency_key}
                )
            )
        except (NotSent, httpx.HTTPError) as exc:
            raise PspUnavailable(
                "The payment processor could not be reached; retry with the same Idempotency-Key.",
                code="psp_unavailable",
            ) from exc
        if response.status_code != 200:
            error = response.json().get("error") or {}
            raise PspRefused(
                error.get("message") or "The payment processor refused.", code=error.get("code")
            )
        return _dispute(response.json())


def _dispute(body: dict[str, Any]) -> PspDispute:
    return PspDispute(
        psp_id=body["id"],
        merchant_reference=body["merchant_reference"],
        amount=body["amount"],
        currency=body["currency"],
        fee=body.get("fee", 0),
        reason=body["reason"],
        status=body["status"],
        evidence=body.get("evidence") or {},
        evidence_submitted=bool(body.get("evidence_submitted")),
        evidence_due_by=body.get("evidence_due_by"),
        created=body["created"],
        change_seq=body["change_seq"],
    )
