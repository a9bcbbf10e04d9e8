"""Envelope encryption, fingerprints, the versioned key set and its rotation logic, CVC memory."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from card_vault.cvc import CvcCache
from card_vault.envelope import Sealed, fingerprint, rewrap, seal, unseal
from card_vault.keyring import (
    KeyMaterialError,
    KeyRing,
    KeySet,
    create_key_file,
    read_key_file,
    write_key_file,
)

PAN = "4242424242424242"
KEK_1, KEK_2 = os.urandom(32), os.urandom(32)


def test_seal_and_unseal_round_trip_without_the_pan_in_clear() -> None:
    sealed = seal(PAN, "pm_a", KEK_1, 1)
    assert unseal(sealed, "pm_a", KEK_1) == PAN
    assert PAN.encode() not in sealed.ciphertext + sealed.wrapped_dek
    assert (len(sealed.nonce), len(sealed.wrapped_dek), sealed.kek_version) == (12, 40, 1)
    # A fresh data key and nonce per record: the same PAN never gives the same ciphertext.
    other = seal(PAN, "pm_a", KEK_1, 1)
    assert (other.ciphertext, other.wrapped_dek) != (sealed.ciphertext, sealed.wrapped_dek)


def test_the_record_id_and_the_kek_are_bound() -> None:
    sealed = seal(PAN, "pm_a", KEK_1, 1)
    with pytest.raises(InvalidTag):
        unseal(sealed, "pm_b", KEK_1)  # ciphertext copied to another row
    with pytest.raises(InvalidUnwrap):
        unseal(sealed, "pm_a", KEK_2)
    tampered = Sealed(sealed.nonce, sealed.ciphertext[:-1] + b"\0", sealed.wrapped_dek, 1)
    with pytest.raises(InvalidTag):
        unseal(tampered, "pm_a", KEK_1)


def test_rewrap_changes_only_the_wrapping() -> None:
    sealed = seal(PAN, "pm_a", KEK_1, 1)
    moved = Sealed(sealed.nonce, sealed.ciphertext, rewrap(sealed.wrapped_dek, KEK_1, KEK_2), 2)
    assert unseal(moved, "pm_a", KEK_2) == PAN
    with pytest.raises(InvalidUnwrap):
        unseal(moved, "pm_a", KEK_1)


def test_fingerprint_is_stable_per_key_and_reveals_nothing() -> None:
    key = os.urandom(32)
    first = fingerprint(PAN, key)
    assert first == fingerprint(PAN, key)
    assert len(first) == 16
    assert first.isalnum()
    assert fingerprint("5555555555554444", key) != first
    assert fingerprint(PAN, os.urandom(32)) != first  # another deployment


def test_key_file_is_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not create_key_file(path)  # idempotent: an existing key file is never replaced
    keys = read_key_file(path)
    assert keys.current == 1
    assert set(keys.keys) == {1}
    assert keys.fingerprint_key is not None
    rotated = keys.with_new_version()
    assert rotated.current == 2
    assert rotated.keys[1] == keys.keys[1]
    assert len(rotated.keys[2]) == 32
    assert rotated.fingerprint_key == keys.fingerprint_key  # fingerprints survive rotations
    with pytest.raises(KeyMaterialError, match="current"):
        rotated.without(2)
    assert set(rotated.without(1).keys) == {2}
    assert KeySet.parse(rotated.to_json()) == rotated


@pytest.mark.parametrize(
    "text",
    [
        '{"current": 2, "keys": {"1": "%s"}}' % base64.b64encode(KEK_1).decode(),  # noqa: UP031
        '{"current": 1, "keys": {"1": "c2hvcnQ="}}',  # 5 bytes
        '{"current": 1, "keys": {"1": "not base64!"}}',
        "[]",
    ],
)
def test_malformed_key_material_is_refused(text: str) -> None:
    with pytest.raises(KeyMaterialError):
        KeySet.parse(text)


def test_keyring_rotation_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    create_key_file(path)
    serving = KeyRing.from_file(path)  # a running vault
    admin = KeyRing.from_file(path)  # the rotation, in another process
    assert admin.rotate() == 2
    # A row already re-wrapped under version 2 makes the running vault read the file at once.
    assert serving.key(2) == admin.key(2)
    assert serving.key(1) == admin.key(1)
    admin.retire(1)
    with pytest.raises(KeyMaterialError, match="current"):
        admin.retire(2)
    assert read_key_file(path).keys.keys() == {2}


def test_keys_from_the_environment_cannot_be_rotated() -> None:
    ring = KeyRing.from_json(KeySet.new().to_json())
    with pytest.raises(KeyMaterialError, match="CARD_VAULT_KEYS"):
        ring.rotate()
    with pytest.raises(KeyMaterialError, match="fingerprint"):
        KeyRing.from_json(KeySet(1, {1: KEK_1}, None).to_json())


def test_write_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeySet.new())
    write_key_file(path, KeySet.new())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cvc_goes_to_the_first_authorization_only() -> None:
    clock = FakeClock()
    cvcs = CvcCache(600, clock)
    cvcs.hold("pm_a", "123")
    assert cvcs.for_authorization("pm_a", ("acct", "key-1")) == "123"
    # A retry of that very request sends the same body (the PSP deduplicates it)...
    assert cvcs.for_authorization("pm_a", ("acct", "key-1")) == "123"
    # ...but any other authorization goes without.
    assert cvcs.for_authorization("pm_a", ("acct", "key-2")) is None
    clock.now += 600
    assert cvcs.for_authorization("pm_a", ("acct", "key-1")) is None
    assert len(cvcs) == 0


def test_cvc_expires_unused() -> None:
    clock = FakeClock()
    cvcs = CvcCache(10, clock)
    cvcs.hold("pm_a", "123")
    cvcs.hold("pm_b", "456")
    clock.now += 9.9
    assert len(cvcs) == 2
    clock.now += 0.1
    assert len(cvcs) == 0
    assert cvcs.for_authorization("pm_a", ("acct", "k")) is None
