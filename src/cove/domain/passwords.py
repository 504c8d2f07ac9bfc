"""Password hashing: argon2id (memory-hard) through argon2-cffi, PHC strings in the store."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cove.domain.errors import InvalidParams

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps one login's cost bounded

# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, 64 MiB, t=3).
_HASHER = PasswordHasher()
# Verified when an email has no password, so an unknown email costs as much as a known one.
# A constant hash with _HASHER's parameters: hashing it at import cost every process 0.15 s.
_DUMMY = (
    "$argon2id$v=19$m=65536,t=3,p=4$mweNdmglf5shBbAViAR6Ww"
    "$v71b6QFvO3x6bpqCOKWSDQSshOVKwZ5Omb5pQEBb1XY"
)


def check_new(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidParams(f"Password must be at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise InvalidParams(f"Password must be at most {MAX_LENGTH} characters.")


def hash_password(password: str) -> str:
    check_new(password)
    return _HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing hash never matches (but costs the same)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
