"""Envelope encryption of card numbers, and their keyed fingerprint.

Each record gets a fresh 256-bit data key (DEK); the PAN is encrypted with AES-256-GCM under it,
with the record id as associated data, so a ciphertext moved to another row does not decrypt.
The DEK is stored wrapped (AES key wrap, RFC 3394) by a versioned key-encryption key (KEK):
rotating the KEK re-wraps 40-byte DEKs and never touches the PAN ciphertexts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

NONCE_BYTES = 12
FINGERPRINT_LENGTH = 16
_BASE62 = string.digits + string.ascii_letters


@dataclass(frozen=True, slots=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes
    wrapped_dek: bytes
    kek_version: int


def seal(pan: str, record_id: str, kek: bytes, kek_version: int) -> Sealed:
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, pan.encode(), record_id.encode())
    return Sealed(nonce, ciphertext, aes_key_wrap(kek, dek), kek_version)


def unseal(sealed: Sealed, record_id: str, kek: bytes) -> str:
    """The PAN; raises InvalidUnwrap or InvalidTag if a key, the record id or a byte is wrong."""
    dek = aes_key_unwrap(kek, sealed.wrapped_dek)
    return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, record_id.encode()).decode()


def rewrap(wrapped_dek: bytes, old_kek: bytes, new_kek: bytes) -> bytes:
    return aes_key_wrap(new_kek, aes_key_unwrap(old_kek, wrapped_dek))


def fingerprint(pan: str, key: bytes) -> str:
    """16 base62 characters of HMAC-SHA256(key, PAN): the same card gives the same fingerprint
    within a deployment, and nothing about the number without the key."""
    value = int.from_bytes(hmac.new(key, pan.encode(), hashlib.sha256).digest(), "big")
    chars = []
    for _ in range(FINGERPRINT_LENGTH):
        value, index = divmod(value, 62)
        chars.append(_BASE62[index])
    return "".join(chars)
