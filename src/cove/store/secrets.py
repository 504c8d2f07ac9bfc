"""Secrets at rest: config vars and add-on credentials are encrypted in the store with a
key kept outside it (``COVE_HOME/secrets.key``, or the operator's ``COVE_SECRETS_KEY_FILE``).

Fernet (the ``cryptography`` library: AES-128-CBC with HMAC-SHA256) encrypts each value.
The key file holds one or more keys, one a line: the first encrypts, all of them decrypt,
so a rotation never leaves a value unreadable (see ``rotate``). Columns use the
``Encrypted*`` types below, so services read and write plain values; the ``Keyring`` is
per store engine (set by ``Store``), never global.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Stored values start with this, so an unencrypted value is never mistaken for one.
PREFIX = "cove-secret:v1:"
# What the store's key check row holds, encrypted: a wrong key fails to decrypt it.
CHECK_PLAINTEXT = b"cove secrets key check"


class SecretsKeyError(Exception):
    """The secrets key is missing, unreadable or not the one the store was encrypted with.
    Messages name files and fixes, never a key or a value."""


class Keyring:
    """The keys of a key file: the first encrypts, every one decrypts."""

    def __init__(self, keys: list[bytes], source: str = "an in-memory key") -> None:
        if not keys:
            raise SecretsKeyError(f"{source} holds no key")
        self.keys = keys
        self.source = source
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def generate(cls) -> Keyring:
        return cls([Fernet.generate_key()])

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SecretsKeyError(f"the secrets key file {path} does not exist") from None
        except OSError as exc:
            raise SecretsKeyError(f"the secrets key file {path} can't be read: {exc}") from None
        keys = [line.strip().encode() for line in text.splitlines() if line.strip()]
        try:
            return cls(keys, source=f"the secrets key file {path}")
        except ValueError:  # (Fernet's own message could quote the line)
            raise SecretsKeyError(
                f"the secrets key file {path} is not a key file: each line must be a "
                "urlsafe-base64 32-byte key (see docs/security.md)"
            ) from None

    def write(self, path: Path) -> None:
        """Write the key file atomically, readable by its owner only."""
        tmp = path.with_name(path.name + ".new")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(b"".join(k + b"\n" for k in self.keys))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            raise SecretsKeyError("a secret in the store is not encrypted")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretsKeyError(
                f"the store's secrets can't be decrypted with {self.source}: it is not the "
                "key they were encrypted with"
            ) from None

    def reencrypt(self, stored: str) -> str:
        """The same value encrypted with the first key (for a rotation)."""
        return self.encrypt(self.decrypt(stored))

    def check_token(self) -> str:
        return self.encrypt(CHECK_PLAINTEXT.decode())

    def verify(self, check: str) -> None:
        if self.decrypt(check) != CHECK_PLAINTEXT.decode():
            raise SecretsKeyError(f"{self.source} does not match the store's key check")


def keyring_of(dialect: Dialect) -> Keyring:
    keyring = getattr(dialect, "cove_keyring", None)
    if keyring is None:
        raise SecretsKeyError("the store was opened without its secrets key")
    assert isinstance(keyring, Keyring)
    return keyring


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored as a JSON string holding its ciphertext (any SQL dialect's JSON
    column takes it, so existing columns keep their type)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return keyring_of(dialect).encrypt(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise SecretsKeyError("a secret in the store is not encrypted")
        return json.loads(keyring_of(dialect).decrypt(value))


class EncryptedText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).decrypt(value)


def to_stored(keyring: Keyring, kind: str, raw: Any) -> Any:
    """A column's raw stored value (as the driver returns it) encrypted."""
    if raw is None:
        return None
    if kind == "json":
        # The raw JSON text is itself the plaintext; stored as a JSON string.
        return json.dumps(keyring.encrypt(raw if isinstance(raw, str) else json.dumps(raw)))
    return keyring.encrypt(raw)


def from_stored(keyring: Keyring, kind: str, raw: Any) -> Any:
    """The inverse of ``to_stored``: a column's raw plaintext value."""
    if raw is None:
        return None
    if kind == "json":
        return keyring.decrypt(json.loads(raw))
    return keyring.decrypt(raw)
