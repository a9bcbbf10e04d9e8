"""CVCs, held in this process's memory only, for a short time, and for one authorization.

A CVC is kept from tokenization until the first authorization forwarded with the card takes it,
or until its TTL passes. The authorization that took it keeps it, under its Idempotency-Key and
until the same deadline, so that a retry of that very request sends the PSP a byte-identical
body (which the PSP deduplicates); no other authorization can get it. A vault restart forgets
every CVC: authorizations then go without one. So the vault runs as one process (CVCs are not
shared between processes).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Held:
    cvc: str = field(repr=False)
    expires_at: float


class CvcCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._by_card: dict[Hashable, _Held] = {}
        self._by_request: dict[Hashable, _Held] = {}
        # (expires_at, tie-breaker, where, key): expiry is checked in O(log n) per entry.
        self._deadlines: list[tuple[float, int, dict[Hashable, _Held], Hashable]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        self._drop_expired()
        return len(self._by_card) + len(self._by_request)

    def hold(self, card_id: str, cvc: str) -> None:
        self._drop_expired()
        held = _Held(cvc, self._clock() + self._ttl)
        self._by_card[card_id] = held
        self._expire(held, self._by_card, card_id)

    def for_authorization(self, card_id: str, request: Hashable) -> str | None:
        """The CVC to send with the authorization `request` (e.g. merchant and Idempotency-Key):
        the one it took before, else the card's, which it takes now; None if neither is held."""
        self._drop_expired()
        held = self._by_request.get(request) or self._by_card.pop(card_id, None)
        if held is None:
            return None
        if request not in self._by_request:
            self._by_request[request] = held
            self._expire(held, self._by_request, request)
        return held.cvc

    def _expire(self, held: _Held, where: dict[Hashable, _Held], key: Hashable) -> None:
        heapq.heappush(self._deadlines, (held.expires_at, next(self._order), where, key))

    def _drop_expired(self) -> None:
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, where, key = heapq.heappop(self._deadlines)
            where.pop(key, None)
