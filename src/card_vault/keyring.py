"""The versioned key-encryption keys (KEKs) and the fingerprint key.

Kept in a JSON file, ``{"current": N, "keys": {"N": base64 of 32 bytes}, "fingerprint_key":
base64}``, written atomically with mode 0600, or given as that JSON in an environment variable.
A running vault re-reads the file when it changes (a stat before each use of the current key),
so a rotation made by another process (the CLI, another vault) is picked up without a restart:
new records use the new current key at once, and rows already re-wrapped under a version this
process has not read yet make it re-read the file. A version is retired only when no row uses it
any more, so retire one after the rotation that replaced it has finished.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

KEY_BYTES = 32


class KeyMaterialError(Exception):
    """The key material is missing or malformed, or a change to it is refused."""


@dataclass(frozen=True, slots=True)
class KeySet:
    current: int
    keys: dict[int, bytes]
    fingerprint_key: bytes | None

    @classmethod
    def new(cls) -> KeySet:
        return cls(1, {1: secrets.token_bytes(KEY_BYTES)}, secrets.token_bytes(KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> KeySet:
        try:
            raw = json.loads(text)
            keys = {int(version): decode_key(key) for version, key in raw["keys"].items()}
            current = int(raw["current"])
            fingerprint = raw.get("fingerprint_key")
            fingerprint_key = decode_key(fingerprint) if fingerprint is not None else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyMaterialError(f"malformed key material: {exc}") from None
        if current not in keys:
            raise KeyMaterialError(f"the current key version {current} is not among the keys")
        return cls(current, keys, fingerprint_key)

    def to_json(self) -> str:
        raw: dict[str, object] = {
            "current": self.current,
            "keys": {str(v): base64.b64encode(k).decode() for v, k in sorted(self.keys.items())},
        }
        if self.fingerprint_key is not None:
            raw["fingerprint_key"] = base64.b64encode(self.fingerprint_key).decode()
        return json.dumps(raw, indent=2) + "\n"

    def with_new_version(self) -> KeySet:
        version = max(self.keys) + 1
        return replace(
            self, current=version, keys={**self.keys, version: secrets.token_bytes(KEY_BYTES)}
        )

    def without(self, version: int) -> KeySet:
        if version == self.current:
            raise KeyMaterialError(f"key version {version} is current and cannot be retired")
        if version not in self.keys:
            raise KeyMaterialError(f"there is no key version {version}")
        return replace(self, keys={v: k for v, k in self.keys.items() if v != version})


def decode_key(text: str) -> bytes:
    """A 32-byte key from its base64 text."""
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError):
        raise KeyMaterialError("a key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyMaterialError(f"a key has {len(key)} bytes; {KEY_BYTES} are needed")
    return key


def read_key_file(path: Path) -> KeySet:
    try:
        return KeySet.parse(path.read_text())
    except FileNotFoundError:
        raise KeyMaterialError(
            f"no key file at {path}; create one with `card-vault init-keys`"
        ) from None


def write_key_file(path: Path, keys: KeySet) -> None:
    """Replace the file atomically: readers see the old or the new key set, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(keys.to_json())
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def create_key_file(path: Path, *, force: bool = False) -> bool:
    """A new key file with version 1 and a fingerprint key; False if one exists (kept)."""
    if path.exists() and not force:
        return False
    write_key_file(path, KeySet.new())
    return True


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the key file between processes: two rotations that both
    read version N would each write their own N+1, and the data keys one of them wrapped would
    be lost."""
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class KeyRing:
    """The keys a process uses; follows its key file, if it has one."""

    def __init__(self, keys: KeySet, *, path: Path | None, fingerprint_key: bytes | None) -> None:
        self._keys = keys
        self._path = path
        self._fingerprint_key = fingerprint_key or keys.fingerprint_key
        if self._fingerprint_key is None:
            raise KeyMaterialError(
                "no fingerprint key: set CARD_VAULT_FINGERPRINT_KEY or put fingerprint_key in "
                "the key file"
            )
        self._stamp = self._file_stamp()

    @classmethod
    def from_file(cls, path: Path, fingerprint_key: bytes | None = None) -> KeyRing:
        return cls(read_key_file(path), path=path, fingerprint_key=fingerprint_key)

    @classmethod
    def from_json(cls, text: str, fingerprint_key: bytes | None = None) -> KeyRing:
        return cls(KeySet.parse(text), path=None, fingerprint_key=fingerprint_key)

    @property
    def current_version(self) -> int:
        self._follow_file()
        return self._keys.current

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys.keys)

    @property
    def fingerprint_key(self) -> bytes:
        assert self._fingerprint_key is not None
        return self._fingerprint_key

    def key(self, version: int) -> bytes:
        if version not in self._keys.keys:
            self.reload()
        try:
            return self._keys.keys[version]
        except KeyError:
            raise KeyMaterialError(f"key version {version} is not in the key set") from None

    def rotate(self) -> int:
        """Add a key version and make it current; answers the new version."""
        path = self._writable_path()
        with _exclusive(path):
            keys = read_key_file(path).with_new_version()
            write_key_file(path, keys)
        self._adopt(keys)
        return keys.current

    def retire(self, version: int) -> None:
        """Remove a key version; the caller has checked that no record still uses it."""
        path = self._writable_path()
        with _exclusive(path):
            keys = read_key_file(path).without(version)
            write_key_file(path, keys)
        self._adopt(keys)

    def reload(self) -> None:
        if self._path is not None:
            self._adopt(read_key_file(self._path))

    def _adopt(self, keys: KeySet) -> None:
        self._keys = keys
        self._stamp = self._file_stamp()

    def _writable_path(self) -> Path:
        if self._path is None:
            raise KeyMaterialError(
                "the keys come from CARD_VAULT_KEYS: change that variable to rotate, or use a "
                "key file (CARD_VAULT_KEY_FILE)"
            )
        return self._path

    def _follow_file(self) -> None:
        if self._path is not None and self._file_stamp() != self._stamp:
            self.reload()

    def _file_stamp(self) -> tuple[int, int] | None:
        # Every write replaces the file, so a new inode says as much as a new mtime.
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns
