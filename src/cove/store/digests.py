"""Keyed digests of encrypted values, so the store can enforce uniqueness and look them up
(Fernet ciphertexts differ at every encryption, so equal values never compare equal in SQL).

HMAC-SHA256 with a key derived from a secrets key: without the key file, a digest gives no
way to test guesses of the value. New digests use the keyring's first key; lookups try every
key (a key file holding a retired key second, after a restore or an interrupted rotation),
and ``cove server --rotate-secrets-key`` recomputes them with the new key. See
docs/decisions.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cove.store.secrets import Keyring

# Separates these digests from any other use of the key.
_PURPOSE = b"cove:log-drain-url-digest:v1"


def _digest(key: bytes, value: str, purpose: bytes = _PURPOSE) -> str:
    subkey = hmac.new(base64.urlsafe_b64decode(key), purpose, hashlib.sha256).digest()
    return hmac.new(subkey, value.encode(), hashlib.sha256).hexdigest()


def signature(keyring: Keyring, purpose: bytes, value: str) -> str:
    """An HMAC of ``value`` for another ``purpose`` than the store's digests (a signed URL,
    say), with the key that encrypts."""
    return _digest(keyring.keys[0], value, purpose)


def digest(keyring: Keyring, value: str) -> str:
    """The digest to store (64 hex characters), with the key that encrypts."""
    return _digest(keyring.keys[0], value)


def candidates(keyring: Keyring, value: str) -> list[str]:
    """Every digest ``value`` may be stored under: one per key of the keyring."""
    return [_digest(k, value) for k in keyring.keys]
