"""The vault's use cases: tokenize, read, register publishable keys, forward, rotate keys."""

from __future__ import annotations

import hashlib
import random
import re
import string
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from card_vault import envelope
from card_vault.cards import Card, redact_pans
from card_vault.cvc import CvcCache
from card_vault.errors import VaultError, invalid
from card_vault.keyring import KeyMaterialError, KeyRing
from card_vault.psp import PspAnswer, PspClient, without_number
from card_vault.store import Claim, Store, StoredCard

log = structlog.get_logger()

PUBLISHABLE_KEY = re.compile(r"^pk_(test|live)_[A-Za-z0-9_-]{8,200}$")
PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9]{24}$")
MERCHANT_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_ALPHABET = string.ascii_letters + string.digits
_RANDOM = random.SystemRandom()


def new_payment_method_id() -> str:
    return "pm_" + "".join(_RANDOM.choices(_ALPHABET, k=24))


def key_hash(publishable_key: str) -> bytes:
    # Publishable keys are long random strings: a plain hash cannot be reversed by guessing.
    return hashlib.sha256(publishable_key.encode()).digest()


def masked(key: str) -> str:
    return f"{key[:8]}****{key[-4:]}"


def check_payment_method_id(value: str, param: str = "payment_method") -> str:
    if not PAYMENT_METHOD_ID.match(value):
        raise invalid(
            "parameter_invalid",
            f"Invalid {param}: not a payment method token (pm_ followed by 24 letters and digits).",
            param,
        )
    return value


def check_merchant_id(value: str) -> str:
    if not MERCHANT_ID.match(value):
        raise invalid(
            "parameter_invalid",
            "Invalid merchant_id: 1 to 64 letters, digits or underscores.",
            "merchant_id",
        )
    return value


def check_publishable_key(value: str) -> str:
    if not PUBLISHABLE_KEY.match(value):
        raise invalid(
            "parameter_invalid",
            "Invalid publishable key: it must look like pk_test_... or pk_live_... "
            "(8 to 200 letters, digits, '-' or '_' after the prefix).",
            "key",
        )
    return value


def missing_payment_method(payment_method: str) -> VaultError:
    return invalid(
        "resource_missing",
        f"No such PaymentMethod: '{payment_method}'",
        "payment_method",
        status=404,
    )


@dataclass(frozen=True, slots=True)
class Forwarding:
    merchant_id: str
    payment_method: str
    psp_request: dict[str, Any]
    idempotency_key: str

    def body_hash(self) -> bytes:
        canonical = orjson.dumps(
            {"payment_method": self.payment_method, "psp_request": self.psp_request},
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(canonical).digest()


class Vault:
    def __init__(self, store: Store, keyring: KeyRing, cvcs: CvcCache, psp: PspClient) -> None:
        self._store = store
        self._keyring = keyring
        self._cvcs = cvcs
        self._psp = psp

    async def merchant_for(self, publishable_key: str) -> str:
        merchant_id = None
        if PUBLISHABLE_KEY.match(publishable_key):
            merchant_id = await self._store.merchant_for_key(key_hash(publishable_key))
        if merchant_id is None:
            raise invalid(
                "api_key_invalid",
                f"Invalid API Key provided: {masked(publishable_key)}",
                status=401,
            )
        return merchant_id

    async def tokenize(self, merchant_id: str, card: Card, created_at: int) -> dict[str, Any]:
        card_id = new_payment_method_id()
        version = self._keyring.current_version
        sealed = envelope.seal(card.number, card_id, self._keyring.key(version), version)
        stored = await self._store.add_card(
            StoredCard(
                id=card_id,
                merchant_id=merchant_id,
                fingerprint=envelope.fingerprint(card.number, self._keyring.fingerprint_key),
                brand=card.brand,
                last4=card.last4,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                holder_name=card.holder_name,
                created=created_at,
            ),
            sealed,
        )
        if card.cvc is not None:
            self._cvcs.hold(card_id, card.cvc)
        log.info("card tokenized", payment_method=card_id, merchant=merchant_id, brand=card.brand)
        return stored.as_payment_method()

    async def payment_method(self, merchant_id: str, payment_method: str) -> dict[str, Any]:
        check_payment_method_id(payment_method, "id")
        card = await self._store.card(merchant_id, payment_method)
        if card is None:
            raise missing_payment_method(payment_method)
        return card.as_payment_method()

    async def payment_methods(
        self, merchant_id: str, *, limit: int, starting_after: str | None
    ) -> dict[str, Any]:
        if starting_after is not None:
            check_payment_method_id(starting_after, "starting_after")
            if await self._store.card(merchant_id, starting_after) is None:
                raise invalid(
                    "resource_missing",
                    f"No such PaymentMethod: '{starting_after}'",
                    "starting_after",
                    status=404,
                )
        cards = await self._store.cards(merchant_id, limit=limit + 1, starting_after=starting_after)
        return {
            "object": "list",
            "data": [card.as_payment_method() for card in cards[:limit]],
            "has_more": len(cards) > limit,
            "url": "/v1/payment_methods",
        }

    async def register_key(self, publishable_key: str, merchant_id: str) -> dict[str, Any]:
        owner = await self._store.register_key(key_hash(publishable_key), merchant_id)
        if owner != merchant_id:
            raise invalid(
                "publishable_key_taken",
                f"The publishable key {masked(publishable_key)} is registered for another "
                "merchant; revoke it there first.",
                "key",
                status=409,
            )
        return {"object": "publishable_key", "merchant_id": merchant_id, "registered": True}

    async def revoke_key(self, publishable_key: str, merchant_id: str) -> dict[str, Any]:
        # Idempotent, so that the core may retry: revoking an unknown key is not an error.
        deleted = await self._store.revoke_key(key_hash(publishable_key), merchant_id)
        return {"object": "publishable_key", "merchant_id": merchant_id, "deleted": deleted}

    async def forward(self, request: Forwarding) -> PspAnswer:
        found = await self._store.sealed_card(request.merchant_id, request.payment_method)
        if found is None:
            raise missing_payment_method(request.payment_method)
        card, sealed = found
        claim = await self._store.claim_forward(
            request.merchant_id, request.idempotency_key, request.body_hash()
        )
        if claim is Claim.CONFLICT:
            raise VaultError(
                409,
                "idempotency_key_reused",
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with: Idempotency-Key '{redact_pans(request.idempotency_key)}' "
                "was first used to forward another authorization.",
                type_="idempotency_error",
            )
        number = envelope.unseal(sealed, card.id, self._keyring.key(sealed.kek_version))
        card_data: dict[str, Any] = {
            "number": number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        }
        cvc = self._cvcs.for_authorization(card.id, (request.merchant_id, request.idempotency_key))
        if cvc is not None:
            card_data["cvc"] = cvc
        answer = await self._psp.authorize(
            {**request.psp_request, "card": card_data}, request.idempotency_key
        )
        log.info(
            "authorization forwarded",
            payment_method=card.id,
            merchant=request.merchant_id,
            psp_status=answer.status,
            replay=claim is Claim.SAME,
            with_cvc=cvc is not None,
        )
        return PspAnswer(answer.status, without_number(answer.body, number), answer.replayed)

    async def purge_forwards(self, retention_seconds: float, batch_size: int = 1000) -> int:
        """Forget forwarding requests older than the retention; answers how many."""
        purged = 0
        while (done := await self._store.purge_forwards(retention_seconds, batch_size)) > 0:
            purged += done
            if done < batch_size:
                break
        return purged

    async def rotate_keys(self, batch_size: int) -> dict[str, Any]:
        try:
            version = self._keyring.rotate()
        except KeyMaterialError as exc:
            raise invalid("keys_not_rotatable", str(exc), status=409) from None
        rewrapped = await self.rewrap(batch_size)
        log.info("key-encryption key rotated", current=version, rewrapped=rewrapped)
        return await self.key_status() | {"rewrapped": rewrapped}

    async def rewrap(self, batch_size: int) -> int:
        """Re-wrap every data key under the current KEK, one short transaction per batch:
        reads and writes go on meanwhile, each row readable under whichever version it has."""
        keys = self._keyring
        total = 0
        while True:
            current = keys.current_version

            def to_current(wrapped: bytes, version: int, current: int = current) -> bytes:
                return envelope.rewrap(wrapped, keys.key(version), keys.key(current))

            done = await self._store.rewrap_batch(current, batch_size, to_current)
            total += done
            if done == 0:
                return total

    async def retire_key(self, version: int) -> dict[str, Any]:
        in_use = (await self._store.count_by_version()).get(version, 0)
        if in_use:
            raise invalid(
                "key_in_use",
                f"Key version {version} still wraps {in_use} data keys; run a rotation "
                "(`card-vault rotate-key --resume`) first.",
                "version",
                status=409,
            )
        try:
            self._keyring.retire(version)
        except KeyMaterialError as exc:
            raise invalid("key_not_retirable", str(exc), "version", status=409) from None
        log.info("key-encryption key retired", version=version)
        return await self.key_status()

    async def key_status(self) -> dict[str, Any]:
        counts = await self._store.count_by_version()
        return {
            "current": self._keyring.current_version,
            "versions": {str(v): counts.get(v, 0) for v in self._keyring.versions},
        }
