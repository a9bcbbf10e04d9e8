"""Stripe-style object ids: a type prefix and 24 random base62 characters."""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits
# The OS's CSPRNG, drawn once per id rather than once per character.
_RANDOM = random.SystemRandom()


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(_RANDOM.choices(_ALPHABET, k=length))
