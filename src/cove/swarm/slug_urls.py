"""Signed, expiring URLs from which a swarm node's slug runner fetches a dyno's slug: a
capability (no credentials), valid for one slug until its expiry. The signature is an HMAC
keyed by the store's secrets key, so every `cove server` sharing the store accepts it."""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlencode

from cove.store.digests import signature
from cove.store.secrets import Keyring

PATH = "/slug-downloads"
_PURPOSE = b"cove:slug-download:v1"
TTL_SECONDS = 15 * 60  # a dyno fetches its slug as it starts; a slow pull may take minutes


def _value(name: str, expires: int) -> str:
    return f"{name}\n{expires}"


def signed_url(api_url: str, keyring: Keyring, name: str, now: float | None = None) -> str:
    """Where the slug archive ``name`` (``<sha256>.tar.zst``) can be fetched until the
    URL expires."""
    expires = int((time.time() if now is None else now) + TTL_SECONDS)
    query = urlencode(
        {"expires": expires, "signature": signature(keyring, _PURPOSE, _value(name, expires))}
    )
    return f"{api_url}{PATH}/{name}?{query}"


def valid(keyring: Keyring, name: str, expires: str, given: str, now: float | None = None) -> bool:
    """Whether ``given`` signs ``name`` until ``expires``, which is not past."""
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return False
    expected = signature(keyring, _PURPOSE, _value(name, int(expires)))
    return hmac.compare_digest(expected, given)
