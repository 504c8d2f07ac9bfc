"""The ACME account key: made at first use, kept in ``COVE_HOME/acme/account-key.pem``
(0600, in a 0700 directory). The account itself is looked up by this key at each issuance
(a CA answers a known key with its existing account)."""

from __future__ import annotations

import os
from pathlib import Path

import josepy as jose
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILE = "account-key.pem"


def load_or_create(directory: Path) -> jose.JWKRSA:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / KEY_FILE
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # whole or not at all: two keys would be two accounts
    path.chmod(0o600)
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return jose.JWKRSA(key=loaded)
