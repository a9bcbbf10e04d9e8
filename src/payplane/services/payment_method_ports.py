"""Ports of the payment methods use cases: the core's copy of saved cards, the merchants'
publishable keys, and the card vault itself (reached over mutual TLS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from payplane.domain.saved_card import SavedCard

if TYPE_CHECKING:  # ports.py imports this module for the UnitOfWork port
    from payplane.services.ports import ListQuery, Page


class SavedCards(Protocol):
    async def get(self, merchant_id: str, card_id: str, *, lock: bool = False) -> SavedCard | None:
        """None for an unknown id and for another merchant's."""
        ...

    async def add(self, card: SavedCard) -> SavedCard:
        """Keep a card read from the vault; if another request kept it first, that copy."""
        ...

    async def save(self, card: SavedCard) -> None: ...
    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...


@dataclass(frozen=True, slots=True)
class PublishableKey:
    key: str
    merchant_id: str


class PublishableKeys(Protocol):
    async def unregistered(self, *, limit: int) -> list[PublishableKey]:
        """Keys the vault has not confirmed yet, oldest first."""
        ...

    async def registered(self, key: str) -> None: ...


class VaultUnavailable(Exception):
    """The vault could not be reached, or refused the core's certificate: nothing was done."""


class Vault(Protocol):
    async def saved_card(self, merchant_id: str, card_id: str) -> SavedCard | None:
        """The card the vault saved under this id for this merchant; None when it has none."""
        ...

    async def register_publishable_key(self, key: PublishableKey) -> None:
        """Idempotent; raises VaultUnavailable."""
        ...
