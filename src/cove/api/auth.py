"""Authentication: ``Bearer <token>`` or Basic with the token as password (git, heroku3)."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from cove.domain.errors import Unauthorized
from cove.services import accounts
from cove.store import Account


def token_from_header(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def basic_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:].strip()).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return None


def current_account(request: Request) -> Account:
    """FastAPI dependency: the account the request's token belongs to."""
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("Invalid credentials provided.")
    account = accounts.authenticate(request.app.state.ctx.store, token)
    request.state.token = token
    return account
